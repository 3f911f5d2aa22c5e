#!/usr/bin/env bash
# Install what the lab needs on the host (Debian 12, as root): QEMU, debootstrap, the image
# tools and an SSH client. Skips apt entirely when everything is there; refreshes apt's lists
# when they are older than a day, because the images take the kernel ABI apt offers now.
set -euo pipefail
# shellcheck source=lab/lib.sh
source "$(dirname "$0")/lib.sh"
need_root

wanted=(qemu-system-x86 qemu-utils debootstrap e2fsprogs util-linux openssh-client python3)
missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
lists_age=$(($(date +%s) - $(stat -c %Y /var/lib/apt/lists/partial 2>/dev/null || echo 0)))
export DEBIAN_FRONTEND=noninteractive
if ((${#missing[@]})) || ((lists_age > 86400)); then
    log "setup: apt-get update"
    apt-get update -qq
fi
if ((${#missing[@]})); then
    log "setup: apt-get install ${missing[*]}"
    nice -n 10 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "setup: host ready ($(qemu-system-x86_64 --version | head -n 1))"
