#!/usr/bin/env bash
# Run `molecule test -s <scenario>` for each scenario given (default: default) from the
# collection root, with the collection visible to Ansible as splitdriver.xen and without
# molecule's galaxy prerun (everything is installed by scripts/install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
collections=$here/.ansible/collections
link=$collections/ansible_collections/splitdriver/xen
if [[ ! -L $link ]]; then
    mkdir -p "$(dirname "$link")"
    ln -sfn "$here" "$link"
fi
export ANSIBLE_COLLECTIONS_PATH=$collections
export PATH=$venv/bin:$PATH
export MOLECULE_NO_LOG=false
cd "$here"
(($# > 0)) || set -- default
for scenario in "$@"; do
    echo "molecule: scenario $scenario"
    # Start from a fresh ephemeral state: with the delegated driver nothing is destroyed, so a
    # state left by an earlier run would make molecule skip prepare.
    molecule reset --scenario-name "$scenario"
    molecule test --scenario-name "$scenario"
done
