#!/usr/bin/env bash
# The demo behind `make demo` (which runs scripts/setup.sh first): start a simulated 3-node CMS cluster, run the
# collection's main playbooks against it, stop the simulator, and leave the lab directory for inspection.
#
#   LAB_DIR          the lab directory (default: lab/ at the repository root)
#   DEMO_PLAYBOOKS   the playbooks to run, in order (default below)
#   DEMO_RESUME=1    resume the lab left by the previous run instead of starting from a fresh one
#   ANSIBLE_ARGS     extra ansible-playbook arguments, e.g. ANSIBLE_ARGS=--diff or ANSIBLE_ARGS=-vv
set -euo pipefail

LAB_DIR=${LAB_DIR:-lab}
# A relative LAB_DIR means relative to where the caller stands, before the cd below.
[[ $LAB_DIR == /* ]] || LAB_DIR=$PWD/$LAB_DIR
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
DEMO_PLAYBOOKS=${DEMO_PLAYBOOKS:-playbooks/generate_csrs.yml playbooks/service_certs.yml playbooks/db_cluster_certs.yml playbooks/cert_report.yml}
read -r -a ansible_args <<<"${ANSIBLE_ARGS:-}"

say() { printf '\ndemo: %s\n' "$*"; }
sim() { "$PY" -m tests.cmssim "$@"; }

[[ -x $PY ]] || {
    echo "demo: .venv is missing; run \`make demo\` (it sets up first)" >&2
    exit 1
}

if [[ -e $LAB_DIR/lab.json ]]; then
    if [[ ${DEMO_RESUME:-0} == 1 ]]; then
        say "resuming the lab in $LAB_DIR"
    else
        say "removing the previous lab in $LAB_DIR (DEMO_RESUME=1 keeps it)"
        sim down --lab-dir "$LAB_DIR" >/dev/null
        rm -rf "$LAB_DIR"
    fi
elif [[ -d $LAB_DIR && -n $(ls -A "$LAB_DIR") ]]; then
    echo "demo: $LAB_DIR exists and is not a simulator lab; refusing to use it (set LAB_DIR)" >&2
    exit 1
fi

stop() {
    local rc=$?
    say "stopping the simulator"
    sim down --lab-dir "$LAB_DIR" || true
    echo "demo: lab left for inspection in $LAB_DIR (inventory.yml, nodes/<name>/files, nodes/<name>/events.jsonl)"
    exit "$rc"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting a simulated 3-node CMS cluster in $LAB_DIR"
sim up --lab-dir "$LAB_DIR"

present=() missing=()
for playbook in $DEMO_PLAYBOOKS; do
    if [[ -f $playbook ]]; then
        present+=("$playbook")
    else
        missing+=("$playbook")
    fi
done

for playbook in "${present[@]}"; do
    say "ansible-playbook $playbook"
    ansible-playbook -i "$LAB_DIR/inventory.yml" -i inventory/lab "${ansible_args[@]}" "$playbook"
done

if ((${#present[@]} == 0)); then
    say "no playbook yet; the simulated cluster the playbooks will run against:"
    sim status --lab-dir "$LAB_DIR"
fi
if ((${#missing[@]})); then
    say "playbooks still to come: ${missing[*]}"
fi
