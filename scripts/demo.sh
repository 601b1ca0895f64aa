#!/usr/bin/env bash
# The azlin-fleet demo (`make demo`): start the local sandbox fleet, then run the user's reference commands
# (DESIGN.md section 1) for real, over SSH, through the sandbox's Azure endpoint and the azlin.fleet.azure_pools
# inventory: a probe, a dry run, routed and gated runs, a run whose output differs on one host (diff report),
# a rolling deploy with health checks, and a workflow. Prints where the HTML reports are.
#
# The sandbox stays up afterwards so you can try your own commands; stop it with `.venv/bin/azlin-fleet sandbox down`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/.venv/bin"
FLEET="$BIN/azlin-fleet"
DEMO="$ROOT/.build/demo"
REPORTS="$ROOT/reports/demo"
export AZLIN_FLEET_SANDBOX_DIR="${AZLIN_FLEET_SANDBOX_DIR:-$ROOT/.sandbox}"
export AZLIN_FLEET_REPORT_DIR="$REPORTS"
# The demo must not pick up a user's config file: it runs on the sandbox.
export XDG_CONFIG_HOME="$DEMO/config"

if [[ ! -x "$FLEET" ]]; then
    echo "demo: $FLEET not found; run 'make setup' (scripts/bootstrap.sh) first." >&2
    exit 2
fi

bold() { if [[ -t 1 ]]; then printf '\n\033[1m%s\033[0m\n' "$*"; else printf '\n%s\n' "$*"; fi; }

# Run one azlin-fleet command, show it as typed, keep going whatever its exit code (some are meant to fail).
step() {
    local title="$1"
    shift
    bold "== $title"
    local shown="$ azlin-fleet" arg
    for arg in "$@"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then shown+=" $arg"; else shown+=" '$arg'"; fi
    done
    echo "$shown"
    local rc=0
    "$FLEET" "$@" || rc=$?
    echo "(exit code $rc)"
}

bold "== Starting the sandbox fleet (8 hosts with real sshd, a local Azure endpoint) in $AZLIN_FLEET_SANDBOX_DIR"
if "$BIN/python" - <<'EOF'
import os, sys
from azlin_fleet_sandbox import Sandbox
sys.exit(0 if Sandbox(os.environ["AZLIN_FLEET_SANDBOX_DIR"]).status().get("up") else 1)
EOF
then
    echo "already up; resetting loads and faults"
    "$FLEET" sandbox reset
else
    "$FLEET" sandbox up
fi

mkdir -p "$DEMO" "$REPORTS" "$XDG_CONFIG_HOME"

# The sandbox hosts have no npm or deploy.sh: put small stand-ins into each host's private /root/bin (web-3's
# tests fail, so the report shows a diff), a Makefile into /root, and write the workflow file.
"$BIN/python" - <<'EOF'
import os
from azlin_fleet_sandbox import Sandbox

sandbox = Sandbox(os.environ["AZLIN_FLEET_SANDBOX_DIR"])
for host in sandbox.hosts():
    failing = host.name == "web-3"
    files = {
        "/root/bin/npm": "#!/bin/sh\n"
        + ('echo "npm $*: 11 passing, 1 failing (checkout.spec.js)"; exit 1\n' if failing else 'echo "npm $*: 12 passing"\n'),
        "/root/bin/deploy.sh": "#!/bin/sh\nsleep 0.5\necho \"deployed release 42 on $(hostname)\"\n",
        "/root/Makefile": "all:\n\t@echo 'make: build ok'\n",
    }
    for path, text in files.items():
        local = sandbox.host_path(host.name, path)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(text)
        local.chmod(0o755)
EOF
# The stand-ins live in /root/bin: the demo puts it on the hosts' PATH through the '--' passthrough to
# ansible-playbook (fleet_environment is an input of azlin.fleet.run).
cat > "$DEMO/demo-vars.yml" <<'EOF'
fleet_environment:
  PATH: /root/bin:/usr/local/bin:/usr/bin:/bin
EOF
cat > "$DEMO/deploy.yaml" <<'EOF'
name: deploy
steps:
  - name: fetch
    command: echo "fetched release 42"
  - name: build
    command: make
    requires: [fetch]
  - name: migrate
    command: echo "database migrated"
    fleet_wide: true
    requires: [build]
  - name: restart
    command: echo "service restarted on $(hostname)"
    requires: [migrate]
EOF
PASS=(-- -e "@$DEMO/demo-vars.yml")

# Make the fleet uneven: a busy web host, a busy CI host, a user typing on ci-2 (idle 30 s), a half-busy stage host.
"$FLEET" sandbox load web-2 --cpu 72 --load 2.5,2.0,1.5
"$FLEET" sandbox load ci-1 --cpu 85
"$FLEET" sandbox load ci-2 --users 30
"$FLEET" sandbox load stage-1 --cpu 40 --mem 65

step "Probe: metrics, route order and gate verdicts of every host (read-only)" \
    probe --all --if-cpu-below 50

step "Dry run: which dev hosts are idle right now, in which order; nothing runs" \
    run "git pull && npm install" --tag env=dev --if-idle --dry-run

step "Routed and gated: make on the CI pool only where CPU < 50% (note the glued flag)" \
    run "make" --pool ci --if-cpu-below-50 "${PASS[@]}"

step "Least-loaded routing: only the 3 least-loaded hosts of the fleet run" \
    run "uptime" --all --smart-route --count 3

step "npm test on the web pool, 5 at a time, retrying failures: web-3's output differs, shown as a diff" \
    run "npm test" --pool web-servers --parallel 5 --retry-failed "${PASS[@]}"

step "Rolling deploy: one staging host at a time, each must be healthy before the next" \
    run "deploy.sh" --pool staging --sequence --wait-for-health "${PASS[@]}"

step "Workflow: fetch -> build -> migrate (fleet-wide barrier) -> restart on env=staging" \
    workflow "$DEMO/deploy.yaml" --tag env=staging

"$FLEET" sandbox reset >/dev/null

bold "== Reports"
echo "Every run wrote JSON, Markdown and a self-contained HTML report to $REPORTS:"
ls -1t "$REPORTS"/*.html | sed 's/^/  /'
latest="$(ls -1t "$REPORTS"/*.html | head -n 1)"
echo
echo "Open the latest HTML report: $latest"
echo "The sandbox is still up: try '.venv/bin/azlin-fleet probe --all', stop it with '.venv/bin/azlin-fleet sandbox down'."
