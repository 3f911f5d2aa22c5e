#!/usr/bin/env bash
# Run `ansible-test sanity` (every test, no ignore file) on a copy of the collection laid out
# as ansible_collections/splitdriver/xen, as ansible-test requires.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
work=${SANITY_WORKDIR:-$here/.cache/sanity}
dest=$work/ansible_collections/splitdriver/xen

# Mirror exactly the files git would ship (tracked and untracked-but-not-ignored).
mkdir -p "$dest"
(cd "$here" && git ls-files -z --cached --others --exclude-standard) > "$work/files"
rsync -a --from0 --files-from="$work/files" "$here/" "$dest/"
tr '\0' '\n' < "$work/files" | sort > "$work/wanted"
(cd "$dest" && find . -type f -not -path './tests/output/*' -not -path './.git/*' | sed 's#^\./##' | sort) > "$work/have"
comm -13 "$work/wanted" "$work/have" | (cd "$dest" && xargs -r -d '\n' rm -f --)

# ansible-test's --venv mode bootstraps pip with a get-pip.py fetched from outside the package
# index; pre-seed its cache with our stand-in (ensurepip + pip install from the index).
cache=${HOME}/.ansible/test/cache
pip_version=$("$venv/bin/python" - <<'PY'
import inspect
import re

import ansible_test._internal.python_requirements as r

print(re.search(r"pip='([0-9.]+)'", inspect.getsource(r.get_venv_packages)).group(1))
PY
)
mkdir -p "$cache"
cp "$here/scripts/get_pip_offline.py" "$cache/get_pip_${pip_version//./_}.py"

# The copy lives inside this checkout's ignored .cache: give it a repository of its own so
# ansible-test lists its files instead of the (ignored) paths of the enclosing repository.
cd "$dest"
[[ -d .git ]] || git init -q .
"$venv/bin/ansible-test" sanity --venv --requirements --python 3.11 --color no "$@"
