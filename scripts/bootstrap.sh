#!/usr/bin/env bash
# Set up a fresh machine for azlin.fleet: system packages, the Python 3.12 venvs, the working-tree
# collection link. Idempotent and quick when nothing changed (stamps keyed on the requirement files).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '==> %s\n' "$*" >&2; }

# --- system packages: sshd and sudo for the sandbox hosts, iproute2 for its namespaces, chromium for the HTML report test
need_apt=()
[ -x /usr/sbin/sshd ] || need_apt+=(openssh-server)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v ssh-keygen >/dev/null || need_apt+=(openssh-client)
command -v chromium >/dev/null || need_apt+=(chromium)
# become steps escalate with sudo on the sandbox hosts (they share this machine's /usr)
command -v sudo >/dev/null || need_apt+=(sudo)
# the routing tests step a sandbox host's clock with libfaketime (src/azlin_fleet_sandbox/clock.py)
compgen -G '/usr/lib/*/faketime/libfaketime.so.1' >/dev/null || need_apt+=(libfaketime)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: need root to install: ${need_apt[*]} (run: sudo apt-get install -y ${need_apt[*]})" >&2
    exit 2
  fi
  log "installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# --- Python 3.12: from pyenv (a bare python3.12 fails through the pyenv shim unless selected)
find_py312() {
  local c
  local root
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  for c in "$root"/versions/3.12.*/bin/python3.12; do [ -x "$c" ] && { echo "$c"; return; }; done
  for c in /usr/bin/python3.12 /usr/local/bin/python3.12; do [ -x "$c" ] && { echo "$c"; return; }; done
  return 1
}
PY312=$(find_py312) || { echo "bootstrap: Python 3.12 not found (install it with pyenv: pyenv install 3.12)" >&2; exit 2; }

# make_venv DIR STAMP-INPUTS... -- PIP-ARGS...
make_venv() {
  local dir=$1; shift
  local inputs=() ; while [ "$1" != "--" ]; do inputs+=("$1"); shift; done; shift
  local stamp; stamp=$(cat "${inputs[@]}" <(echo "$*") | sha256sum | cut -c1-16)
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$stamp" ]; then return; fi
  log "creating $dir"
  rm -rf "$dir"
  "$PY312" -m venv "$dir"
  # This machine's pip config lists local mirror folders that may not exist; their warnings are noise.
  if ! "$dir/bin/pip" install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; } >&2
  then
    echo "bootstrap: pip install into $dir failed" >&2
    exit 1
  fi
  echo "$stamp" > "$dir/.stamp"
}

make_venv .venv requirements/dev.txt requirements/runtime.txt pyproject.toml -- -r requirements/dev.txt -e .
# The other supported ansible-core minors, for the multi-version runs (strategy and callback tests).
make_venv .venv-2.19 requirements/runtime.txt -- -r requirements/runtime.txt ansible-core==2.19.14 pytest==9.2.0
make_venv .venv-2.20 requirements/runtime.txt -- -r requirements/runtime.txt ansible-core==2.20.10 pytest==9.2.0

# --- Azurite (the Azure Storage emulator) for the report upload tests, under a local prefix
AZURITE_VERSION=3.37.0
if [ "$(cat .build/node/.azurite-version 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  command -v npm >/dev/null || { echo "bootstrap: npm not found (Node 20 is needed for Azurite)" >&2; exit 2; }
  log "installing azurite $AZURITE_VERSION into .build/node"
  mkdir -p .build/node
  npm install --silent --no-audit --no-fund --prefix .build/node "azurite@$AZURITE_VERSION" >&2
  echo "$AZURITE_VERSION" > .build/node/.azurite-version
fi

# --- the working tree is the collection azlin.fleet (no stale installed copy)
mkdir -p .build/collections/ansible_collections/azlin
ln -sfn ../../../.. .build/collections/ansible_collections/azlin/fleet

# --- ansible-test's pip bootstrap works offline through a local get-pip shim (DESIGN §4)
mkdir -p "$HOME/.ansible/test/cache"
for ver in 25.3 25.2 25.1.1 24.0; do
  cat > "$HOME/.ansible/test/cache/get_pip_${ver//./_}.py" <<'PYEOF'
# Offline stand-in for get-pip.py: ensurepip in a subprocess, then upgrade with the given arguments.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.run([sys.executable, "-m", "ensurepip"], check=True)
subprocess.run([sys.executable, "-m", "pip", "install", "--upgrade", *args], check=True)
PYEOF
done
log "bootstrap done"
