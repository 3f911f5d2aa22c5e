#!/usr/bin/env bash
# Install everything `make test` needs on a Debian 12 machine (run as root):
# the Debian packages listed in scripts/debian-packages.txt and a .venv with the pinned
# dev requirements. Each step is skipped when it is already satisfied, so re-runs are fast.
# VENV and REQUIREMENTS choose another venv and pin file (scripts/compat.sh builds the
# ansible-core 2.17 venv from requirements-2.17.txt this way).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
requirements=${REQUIREMENTS:-$here/requirements-dev.txt}
stamp_dir=$venv/.stamps

mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/scripts/debian-packages.txt")
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "install-deps: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
        exit 1
    fi
    echo "install-deps: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv is built from Debian's python3 (not a pyenv shim) so the interpreter is the same one
# managed nodes run; it holds pyxs from PyPI while /usr/bin/python3 has Debian's python3-pyxs.
req_sum=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python || ! -f $stamp_dir/$req_sum ]]; then
    echo "install-deps: creating $venv from $(basename "$requirements")"
    [[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
    mkdir -p "$stamp_dir"
    rm -f "$stamp_dir"/*
    touch "$stamp_dir/$req_sum"
fi
