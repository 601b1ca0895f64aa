# The two commands a fresh machine needs: `make demo` and `make test` (both set themselves up).
.PHONY: setup demo test unit integration sanity lint bench sandbox-up sandbox-down clean

setup:
	bash scripts/bootstrap.sh

demo: setup
	bash scripts/demo.sh

test:
	bash scripts/test.sh

unit: setup
	.venv/bin/pytest -q tests/unit

integration: setup
	ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg .venv/bin/pytest -q tests/integration -m integration

sanity: setup
	bash scripts/sanity.sh .venv

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ansible-lint --offline playbooks/

bench: setup
	for b in benchmarks/bench_*.py; do .venv/bin/python $$b || exit 1; done

sandbox-up: setup
	.venv/bin/azlin-fleet-sandbox up

sandbox-down:
	.venv/bin/azlin-fleet-sandbox down

clean: sandbox-down
	rm -rf .build .pytest_cache .ruff_cache tests/output
