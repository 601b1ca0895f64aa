#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection at ansible_collections/azlin/fleet (where ansible-test
# needs it). Only files git tracks or would track are copied, so local clutter never reaches the check.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${1:-.venv}
DEST=$ROOT/.build/sanity/ansible_collections/azlin/fleet
rm -rf "$ROOT/.build/sanity"
mkdir -p "$DEST"
git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents {} "$DEST"/ 2>/dev/null || true
# Sanity covers the collection only; the CLI/sandbox packages and tests are checked by ruff and pytest.
rm -rf "$DEST/src" "$DEST/benchmarks" "$DEST/scripts" "$DEST/tests/integration" "$DEST/tests/unit"
cd "$DEST"
git init -q . && git add -A >/dev/null
export PATH="$ROOT/$VENV/bin:$PATH"
ansible-test sanity --venv --python 3.12 --color no "${@:2}"
