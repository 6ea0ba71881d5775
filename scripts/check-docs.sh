#!/usr/bin/env bash
# Checks the documentation: README.md stays under its size budget, and every relative
# Markdown link in README.md, CONTRIBUTING.md and docs/**/*.md points to a file (or folder)
# that exists. Links are `[text](path)` or `[text](path#anchor)`, taken relative to the page
# that holds them; http(s)://, mailto: and pure `#anchor` links are not checked, nor is
# anything inside fenced code blocks or `inline code`. Anchors themselves are not checked.
#
#   scripts/check-docs.sh        exits 0 when all is well, 1 with one line per problem
set -euo pipefail
cd "$(dirname "$0")/.."

readme_budget=10000
problems=0

readme_bytes=$(wc -c < README.md)
if [ "$readme_bytes" -gt "$readme_budget" ]; then
  echo "check-docs: README.md is $readme_bytes bytes, over its budget of $readme_budget: move detail into docs/" >&2
  problems=$((problems + 1))
fi

pages=(README.md CONTRIBUTING.md)
while IFS= read -r -d '' page; do pages+=("$page"); done < <(find docs -type f -name '*.md' -print0 | sort -z)

for page in "${pages[@]}"; do
  if [ ! -f "$page" ]; then
    echo "check-docs: $page is missing" >&2
    problems=$((problems + 1))
    continue
  fi
  dir=$(dirname "$page")
  # One "LINE<TAB>TARGET" per link, outside fenced code blocks and inline code spans.
  while IFS=$'\t' read -r line target; do
    [ -n "$target" ] || continue
    target=${target#<}; target=${target%>}
    target=${target%% \"*}                       # a title: [text](path "title")
    case "$target" in
      http://*|https://*|mailto:*|\#*) continue ;;
    esac
    path=${target%%#*}
    [ -n "$path" ] || continue
    if [[ "$path" == /* ]]; then
      resolved=".$path"
    else
      resolved="$dir/$path"
    fi
    if [ ! -e "$resolved" ]; then
      echo "check-docs: $page:$line: link to '$target', but $resolved does not exist" >&2
      problems=$((problems + 1))
    fi
  done < <(awk '
    /^[[:space:]]*(```|~~~)/ { fenced = !fenced; next }
    fenced { next }
    {
      text = $0
      gsub(/`[^`]*`/, "", text)
      while (match(text, /\]\([^)]*\)/)) {
        target = substr(text, RSTART + 2, RLENGTH - 3)
        printf "%d\t%s\n", NR, target
        text = substr(text, RSTART + RLENGTH)
      }
    }' "$page")
done

if [ "$problems" -gt 0 ]; then
  echo "check-docs: $problems problem(s)" >&2
  exit 1
fi
echo "check-docs: README.md $readme_bytes bytes (budget $readme_budget); links in ${#pages[@]} pages resolve"
