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
