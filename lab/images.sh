#!/usr/bin/env bash
# Build, or reuse from the cache, the lab's disk images and boot files:
#   dom0.img    Debian 12 root file system of dom0 (Xen 4.17 tools, kernel + headers, compilers)
#   domu.img    Debian 12 root file system of the PV guest (kernel modules + headers, compilers)
#   xen, vmlinuz, initrd.img   what QEMU boots (the hypervisor and dom0's kernel; the guest boots
#                              the same kernel from inside dom0)
# Images are built without loop mounts (debootstrap + apt in a chroot, then `mkfs.ext4 -d`) and
# kept in $LAB_CACHE_DIR/images/<key>, where <key> hashes every input: this script, the package
# lists, the mirrors and the kernel ABI and Xen version resolved from apt right now. A cached
# set is reused while the key is unchanged and is never written to afterwards (labs run on
# copy-on-write overlays). Prints the image directory on stdout.
set -euo pipefail
# shellcheck source=lab/lib.sh
source "$(dirname "$0")/lib.sh"
need_root

for tool in debootstrap mkfs.ext4 unshare flock; do
    command -v "$tool" >/dev/null || die "$tool is missing: run lab/setup.sh first"
done

mirror=$(debian_mirror "$LAB_SUITE")
security=$(debian_mirror "$LAB_SUITE-security")
[[ -n $mirror ]] || die "apt has no '$LAB_SUITE main' source to build the images from"
[[ -n $security ]] || die "apt has no '$LAB_SUITE-security main' source (the kernel ABI comes from there)"

# The kernel ABI (6.1.0-NN) and Xen version the images get: whatever apt offers today. The
# security archive keeps only the newest kernel, so these are never pinned.
abi=$(apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\([0-9].*-amd64\)$/\1/p' | head -n 1)
xen_version=$(apt-cache policy xen-hypervisor-4.17-amd64 2>/dev/null | sed -n 's/^ *Candidate: //p')
[[ -n $abi ]] || die "cannot resolve the kernel ABI from linux-image-amd64 (run apt-get update)"
[[ -n $xen_version && $xen_version != "(none)" ]] || die "apt offers no xen-hypervisor-4.17-amd64"

key=$(
    {
        cat "$0" "$LAB_DIR/lib.sh" "$LAB_DIR"/config/packages-*.txt
        echo "$LAB_SUITE $mirror $security $abi $xen_version"
    } | sha256sum | cut -c1-16
)
images=$LAB_CACHE_DIR/images
out=$images/$key
if [[ -f $out/complete ]]; then
    log "images: cached $out (kernel $abi, Xen $xen_version)"
    echo "$out"
    exit 0
fi

mkdir -p "$images" "$LAB_CACHE_DIR/debootstrap" "$LAB_CACHE_DIR/apt-archives/partial"
exec 9>"$LAB_CACHE_DIR/build.lock"
if ! flock -n 9; then
    log "images: another lab is building images; waiting for it (at most 30 min)"
    flock -w 1800 9 || die "timed out waiting for the image build lock $LAB_CACHE_DIR/build.lock"
fi
if [[ -f $out/complete ]]; then
    log "images: built meanwhile by another lab: $out"
    echo "$out"
    exit 0
fi

work=$LAB_CACHE_DIR/build/$key.$$
cleanup() {
    # Mounts made for the chroot live in private mount namespaces and are gone by now;
    # --one-file-system is a second guard against deleting through a mount.
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
mkdir -p "$work/out"
log "images: building set $key (kernel $abi, Xen $xen_version) in $work"

# Run "$@" with output to the log file $1, telling every 20 s what it is doing; on failure
# show the log's tail.
run_logged() {
    local logfile=$1 pid rc=0 waited=0
    shift
    "$@" >"$logfile" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 2
        waited=$((waited + 2))
        if ((waited % 20 == 0)); then
            log "  ... ${waited}s: $(grep -v '^ *$' "$logfile" | tail -n 1 | cut -c1-100)"
        fi
    done
    wait "$pid" || rc=$?
    if ((rc != 0)); then
        log "command failed (exit $rc): $*"
        tail -n 30 "$logfile" >&2
        return "$rc"
    fi
}

# Run a command inside the tree $1 with /proc, /sys, /dev and the shared .deb cache mounted,
# in a private mount namespace: the mounts vanish with the command, whatever happens.
in_tree() {
    local tree=$1
    shift
    # shellcheck disable=SC2016 # the inner script expands its own arguments
    nice -n 10 unshare --mount --propagation private -- /bin/bash -euo pipefail -c '
        tree=$1 archives=$2
        shift 2
        mount -t proc proc "$tree/proc"
        mount -t sysfs sysfs "$tree/sys"
        mount --rbind /dev "$tree/dev"
        mount --bind "$archives" "$tree/var/cache/apt/archives"
        exec chroot "$tree" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
    ' in_tree "$tree" "$LAB_CACHE_DIR/apt-archives" "$@"
}

packages() {
    sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$LAB_DIR/config/packages-common.txt" "$LAB_DIR/config/packages-$1.txt"
}

# debootstrap's minimal system, then every package with apt from the main, updates and
# security suites (the kernel ABI only exists in the latter).
build_tree() {
    local name=$1 tree=$work/$1
    shift
    local -a pkgs
    mapfile -t pkgs < <(packages "$name")
    pkgs+=("$@")
    log "images: $name: debootstrap $LAB_SUITE (minbase)"
    run_logged "$work/$name-debootstrap.log" nice -n 10 debootstrap --variant=minbase \
        --cache-dir="$LAB_CACHE_DIR/debootstrap" "$LAB_SUITE" "$tree" "$mirror"
    cat >"$tree/etc/apt/sources.list" <<EOF
deb $mirror $LAB_SUITE main
deb $mirror $LAB_SUITE-updates main
deb $security $LAB_SUITE-security main
EOF
    # No service starts inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$tree/usr/sbin/policy-rc.d"
    chmod 0755 "$tree/usr/sbin/policy-rc.d"
    log "images: $name: apt-get install ${#pkgs[@]} packages"
    run_logged "$work/$name-apt.log" in_tree "$tree" /bin/sh -ec "
        apt-get update -qq
        apt-get -y -q -o Dpkg::Use-Pty=0 dist-upgrade
        apt-get -y -q -o Dpkg::Use-Pty=0 --no-install-recommends install ${pkgs[*]}
        systemctl enable systemd-networkd.service ssh.service
        systemctl mask apt-daily.timer apt-daily-upgrade.timer
    "
    rm -f "$tree/usr/sbin/policy-rc.d"
    rm -rf "$tree"/var/lib/apt/lists/*_Packages* "$tree"/var/lib/apt/lists/*_Translation-*
    # Each booted machine makes its own machine id.
    : >"$tree/etc/machine-id"
    rm -f "$tree/var/lib/dbus/machine-id"
    mkdir -p "$tree/mnt/lab-seed"
    # Root logs in with the key of the lab instance, from its small read-only seed disk.
    cat >"$tree/etc/ssh/sshd_config.d/lab.conf" <<'EOF'
PermitRootLogin prohibit-password
AuthorizedKeysFile .ssh/authorized_keys /mnt/lab-seed/authorized_keys
UseDNS no
EOF
}

# The seed disk carries the lab's SSH key. udev is slow under TCG: boot does not wait for the
# disk (nofail), but its mount does, long enough.
write_common() {
    local tree=$1 root_dev=$2 hostname=$3
    cat >"$tree/etc/fstab" <<EOF
$root_dev / ext4 rw,relatime,errors=remount-ro 0 1
LABEL=lab-seed /mnt/lab-seed ext4 ro,nofail,x-systemd.device-timeout=10min 0 0
EOF
    echo "$hostname" >"$tree/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 %s\n' "$hostname" >"$tree/etc/hosts"
}

build_tree dom0 "linux-image-$abi" "linux-headers-$abi"
tree=$work/dom0
[[ -d $tree/lib/modules/$abi ]] || die "dom0 image has no kernel $abi"
write_common "$tree" /dev/vda xen-lab-dom0
cat >"$tree/etc/systemd/network/10-eth0.network" <<'EOF'
[Match]
Name=eth0

[Network]
DHCP=ipv4
EOF
cat >"$tree/etc/systemd/network/20-xenbr0.netdev" <<'EOF'
[NetDev]
Name=xenbr0
Kind=bridge
EOF
cat >"$tree/etc/systemd/network/21-xenbr0.network" <<EOF
[Match]
Name=xenbr0

[Network]
Address=$LAB_BRIDGE_NET.1/24
ConfigureWithoutCarrier=yes
EOF
# Shutting dom0 down must not try to save guests; guest consoles are logged for debugging.
sed -i 's/^#\?XENDOMAINS_SAVE=.*/XENDOMAINS_SAVE=""/' "$tree/etc/default/xendomains"
echo 'XENCONSOLED_ARGS="--log=guest --log-dir=/var/log/xen/console"' >>"$tree/etc/default/xen"
mkdir -p "$tree/var/log/xen/console"
xen_gz=$(find "$tree/boot" -maxdepth 1 -name 'xen-4.17*.gz' | head -n 1)
[[ -n $xen_gz ]] || die "dom0 image has no /boot/xen-4.17*.gz"
zcat "$xen_gz" >"$work/out/xen"
cp "$tree/boot/vmlinuz-$abi" "$work/out/vmlinuz"
cp "$tree/boot/initrd.img-$abi" "$work/out/initrd.img"

build_tree domu "linux-headers-$abi"
tree=$work/domu
# The guest boots dom0's kernel and initrd (from dom0's /boot): it only needs the modules.
cp -a "$work/dom0/lib/modules/$abi" "$tree/lib/modules/"
write_common "$tree" /dev/xvda lab-domu
cat >"$tree/etc/systemd/network/10-eth0.network" <<EOF
[Match]
Name=eth0

[Network]
Address=$LAB_BRIDGE_NET.2/24
Gateway=$LAB_BRIDGE_NET.1
EOF

for name in dom0 domu; do
    log "images: $name: mkfs.ext4 -d (no loop mount)"
    run_logged "$work/$name-mkfs.log" nice -n 10 mkfs.ext4 -q -F -L "lab-$name" -d "$work/$name" "$work/out/$name.img" 6G
    rm -rf --one-file-system "${work:?}/$name"
done
cat >"$work/out/manifest" <<EOF
key=$key
abi=$abi
xen_version=$xen_version
suite=$LAB_SUITE
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
chmod 0444 "$work/out"/*
touch "$work/out/complete"
rm -rf "$out"
mv "$work/out" "$out"
# Keep the newest two sets (another checkout may still use the previous one); running labs
# keep their open backing files even when a set is deleted.
find "$images" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn | tail -n +3 |
    cut -d' ' -f2- | xargs -r rm -rf --one-file-system
log "images: built $out"
echo "$out"
