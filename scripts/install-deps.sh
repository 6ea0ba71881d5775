#!/usr/bin/env bash
# Installs what the build, the tests, the demo or the benchmarks need on Debian 12, and
# nothing that is already there. Usage: scripts/install-deps.sh build|test|demo|bench ...
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
python_packages=()
rauc_client=0
model_signing=0
for group in "$@"; do
  case "$group" in
    build) apt_packages+=(libssl-dev libsqlite3-dev libcurl4-openssl-dev pkg-config) ;;
    test)  apt_packages+=(libssl-dev libsqlite3-dev libcurl4-openssl-dev pkg-config openssl sqlite3 curl python3-venv chromium postgresql nginx-light swupdate cpio time
                         rauc squashfs-tools dbus-daemon dbus-bin python3-gi python3-gbulb python3-aiohttp libfaketime)
           python_packages+=(schemathesis onnxruntime numpy tuf cryptography 'moto[server]')
           rauc_client=1
           model_signing=1 ;;
    demo)  apt_packages+=(libssl-dev libsqlite3-dev libcurl4-openssl-dev pkg-config python3-venv curl openssl)
           python_packages+=(onnxruntime numpy onnx)
           model_signing=1 ;;
    bench) apt_packages+=(nginx-light wrk time curl openssl sqlite3 python3-venv zstd xdelta3 bsdiff)
           python_packages+=(numpy onnx) ;;
    *) echo "install-deps: unknown group '$group' (build, test, demo, bench)" >&2; exit 2 ;;
  esac
done

missing=()
# Groups overlap; each package is checked (and named) once.
for package in $(printf '%s\n' "${apt_packages[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ${#python_packages[@]} -gt 0 ]; then
  # A virtual environment in the repository (git-ignored) keeps the system Python untouched.
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv 2>/dev/null || { rm -rf .venv; python3 -m venv --without-pip .venv && curl -fsSL https://bootstrap.pypa.io/get-pip.py | .venv/bin/python >/dev/null; }
  fi
  need=()
  for package in "${python_packages[@]}"; do
    module="${package%%[*}"   # moto[server] is imported as moto
    .venv/bin/python -c "import importlib.util,sys; sys.exit(0 if importlib.util.find_spec('$module') else 1)" 2>/dev/null || need+=("$package")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "install-deps: pip install ${need[*]}"
    # Byte-compiled here, beside the build: compiled lazily instead, moto's modules were
    # compiled by the suites that started it at the same moment, each (ObjectStoreTests spent
    # 25 CPU seconds rather than 12).
    .venv/bin/python -m pip install -q "${need[@]}"
  fi
fi

# rauc-hawkbit (RAUC's hawkBit client, for the DDI tests) imports gi, which pip cannot build
# here: an environment of its own on Debian's python3, seeing Debian's python3-gi, gbulb and
# aiohttp (hence --no-deps).
if [ "$rauc_client" -eq 1 ] && [ ! -x .venv-rauc/bin/rauc-hawkbit-client ]; then
  echo "install-deps: pip install rauc-hawkbit==0.2.0 (in .venv-rauc)"
  rm -rf .venv-rauc
  /usr/bin/python3 -m venv --system-site-packages .venv-rauc
  .venv-rauc/bin/python -m pip install -q --no-deps rauc-hawkbit==0.2.0
fi

# The OpenSSF model-signing tool, as a model team runs it, for the provenance tests: an
# environment of its own (it pins sigstore and cryptography versions the other tools need not
# share). 1.1.1 imports pyOpenSSL without declaring it, hence the second package.
if [ "$model_signing" -eq 1 ] && [ ! -x .venv-model-signing/bin/model_signing ]; then
  echo "install-deps: pip install model-signing==1.1.1 pyopenssl (in .venv-model-signing)"
  rm -rf .venv-model-signing
  python3 -m venv .venv-model-signing
  .venv-model-signing/bin/python -m pip install -q model-signing==1.1.1 pyopenssl
fi
