#!/usr/bin/env bash
# The oldest ansible-core the collection supports (meta/runtime.yml: requires_ansible ">=2.17.0"),
# tested next to the pinned one: the unit tests, the integration tests that run the modules,
# playbooks and roles through Ansible, and ansible-test sanity, all on ansible-core 2.17 from a
# venv of its own (.cache/venv-2.17, pinned in requirements-2.17.txt).
# Usage: compat.sh [unit|integration|sanity]...   (default: all three)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${COMPAT_VENV:-$here/.cache/venv-2.17}

VENV=$venv REQUIREMENTS=$here/requirements-2.17.txt bash "$here/scripts/install-deps.sh"
"$venv/bin/python" -c 'import ansible.release as r; print("compat: ansible-core", r.__version__)'

cd "$here"
export ANSIBLE_COLLECTIONS_PATH=$here/.ansible/collections
# Every integration test runs through Ansible (modules, playbooks, roles, the inventory plugin)
# but these, which run once, on the pinned ansible-core (make integration): the test daemon's
# own tests (no Ansible in them), those that need the pinned venv's tools (galaxy-importer,
# ansible-builder, ansible-runner) and the slicing proof (more fleet runs of the same playbooks).
ignore=()
for path in tests/integration/test_xenstored_*.py tests/integration/test_artifact.py \
            tests/integration/test_execution_environment.py tests/integration/test_ansible_runner.py \
            tests/integration/test_awx_slicing.py; do
    ignore+=("--ignore=$path")
done
steps=("$@")
((${#steps[@]})) || steps=(unit integration sanity)
# Every step runs, so that one failure does not hide the others; the exit status says if any failed.
failed=()
for step in "${steps[@]}"; do
    case $step in
        unit) cmd=("$venv/bin/python" -m pytest tests/unit) ;;
        integration) cmd=("$venv/bin/python" -m pytest tests/integration "${ignore[@]}") ;;
        sanity) cmd=(env VENV="$venv" SANITY_WORKDIR="$here/.cache/sanity-2.17" bash scripts/sanity.sh) ;;
        *) echo "compat.sh: unknown step $step (unit, integration, sanity)" >&2; exit 2 ;;
    esac
    "${cmd[@]}" || failed+=("$step")
done
if ((${#failed[@]})); then
    echo "compat: failed on ansible-core 2.17: ${failed[*]}" >&2
    exit 1
fi
