#!/usr/bin/env bash
# `make lab`: boot (or reuse) the real-Xen lab, roll the fleet playbook out to it, show the
# proof, roll it out again to show that nothing changes, and leave the lab up.
set -euo pipefail
# shellcheck source=lab/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_DIR"

t0=$SECONDS
bash "$LAB_DIR/lab.sh" up
inventory=$LAB_STATE_DIR/inventory.yml

# Run a playbook against the lab with its output kept in the state dir.
playbook() {
    local name=$1 start=$SECONDS rc=0
    shift
    log "ansible-playbook $* (log: $LAB_STATE_DIR/$name.log)"
    ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-1} ansible-playbook -i "$inventory" "$@" 2>&1 |
        tee "$LAB_STATE_DIR/$name.log" || rc=$?
    log "$name: $((SECONDS - start))s, exit $rc"
    return "$rc"
}

# Changed-task counts of a playbook log's PLAY RECAP, one per host.
changed_counts() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | sed -n '/PLAY RECAP/,$p' | grep -o 'changed=[0-9]*' | cut -d= -f2
}

playbook rollout playbooks/site.yml
playbook proof lab/playbooks/proof.yml
playbook rollout-again playbooks/site.yml
if changed_counts "$LAB_STATE_DIR/rollout-again.log" | grep -qv '^0$'; then
    die "the second rollout changed something (see $LAB_STATE_DIR/rollout-again.log): not idempotent"
fi
log "second rollout: changed=0 on every host (idempotent)"
log "make lab: done in $((SECONDS - t0))s"
echo
bash "$LAB_DIR/lab.sh" status
