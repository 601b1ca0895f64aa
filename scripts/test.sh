#!/usr/bin/env bash
# The whole test suite, in the order that fails fastest: lint, sanity, unit, integration (2.21),
# then the multi-version subset on ansible-core 2.19 and 2.20. Any step failing fails the run;
# pytest's "no tests collected" (exit 5) is a failure too.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export ANSIBLE_CONFIG=$PWD/ansible.cfg
V=.venv/bin
mkdir -p tests/output

step() { printf '\n==== %s ====\n' "$*"; }

step "ruff"
$V/ruff check .

step "ansible-lint"
$V/ansible-lint --offline playbooks/

step "modules compile on target Python 3.8 (the oldest that ansible-core 2.19 supports on hosts)"
PYENV_DIR=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
PY38=$(ls -d "$PYENV_DIR"/versions/3.8.*/bin/python3.8 2>/dev/null | head -n 1 || true)
if [ -z "$PY38" ]; then
  echo "no Python 3.8 found (pyenv install 3.8): cannot check target compatibility" >&2
  exit 1
fi
"$PY38" -c 'import sys; [compile(open(f).read(), f, "exec") for f in sys.argv[1:]]' plugins/modules/*.py plugins/module_utils/*.py
echo "ok: $("$PY38" --version) compiles $(ls plugins/modules/*.py plugins/module_utils/*.py | wc -l) files"

step "ansible-test sanity"
bash scripts/sanity.sh .venv

step "unit tests"
$V/pytest -q tests/unit -p no:cacheprovider

step "integration tests (ansible-core $($V/python -c 'import ansible; print(ansible.__version__)'))"
$V/pytest -q tests/integration -m integration -p no:cacheprovider

for minor in 2.19 2.20; do
  step "integration tests, multiversion subset (ansible-core $minor)"
  FLEET_ANSIBLE_VENV=.venv-$minor $V/pytest -q tests/integration -m "integration and multiversion" -p no:cacheprovider
done
