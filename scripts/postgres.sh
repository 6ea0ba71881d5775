#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for tests and benchmarks, in a folder of its own
# (no system service, nothing outside the folder).
#
#   scripts/postgres.sh start DIR [PORT]   prints postgres://postgres@127.0.0.1:PORT
#                                          (again on a stopped DIR: the same data, restarted)
#   scripts/postgres.sh stop DIR
#
# As root, the server runs as the postgres user (PostgreSQL refuses to run as root).
set -euo pipefail
command="${1:-}"; dir="${2:-}"
[ -n "$command" ] && [ -n "$dir" ] || { echo "usage: scripts/postgres.sh start|stop DIR [PORT]" >&2; exit 2; }
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "postgres.sh: PostgreSQL is not installed (scripts/install-deps.sh test installs it)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/sh -c "cd /; $*"; else sh -c "$*"; fi
}

case "$command" in
  start)
    port="${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    mkdir -p "$dir"
    chmod 755 "$dir"
    # Every folder above the data folder must be traversable by the server's user.
    parent="$dir"; while [ "$parent" != "/" ]; do chmod o+x "$parent" 2>/dev/null || true; parent=$(dirname "$parent"); done
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    if [ ! -d "$dir/data" ]; then
      as_owner "$bin/initdb -D '$dir/data' -A trust -U postgres --no-sync" > "$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    # The server outlives this script: it must not keep the caller's pipes open (a test
    # runner reading this script's output would wait for their end forever).
    for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true; done
    # Durability is not what these tests measure: fsync off keeps them quick.
    as_owner "$bin/pg_ctl -D '$dir/data' -l '$dir/server.log' -w -o \"-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=1000\" start" > /dev/null 2>&1 \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://postgres@127.0.0.1:$port"
    ;;
  stop)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl -D '$dir/data' -m immediate -w stop" > /dev/null 2>&1 || true
    ;;
  *) echo "usage: scripts/postgres.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
