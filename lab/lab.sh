#!/usr/bin/env bash
# The real-Xen lab: Xen 4.17 + a Debian 12 dom0 under QEMU (TCG), a PV domU started with
# `xl create` on the bridge xenbr0 inside dom0, and an Ansible inventory for both.
#
#   lab/lab.sh up        set up the host, build/reuse images, boot (or reuse a running lab):
#                        the steps images, boot (Xen + dom0) and guest (domU + inventory)
#   lab/lab.sh down      stop this lab's QEMU and drop its disk overlays
#   lab/lab.sh status    is it running, and how to log in
#   lab/lab.sh ssh HOST  log in (HOST: dom0 or the guest's name)
#
# Settings: see lab/lib.sh (LAB_STATE_DIR, LAB_CACHE_DIR, LAB_GUEST) and below.
set -euo pipefail
# shellcheck source=lab/lib.sh
source "$(dirname "$0")/lib.sh"

LAB_BOOT_TIMEOUT=${LAB_BOOT_TIMEOUT:-420}   # QEMU start -> dom0 SSH (measured ~50 s)
LAB_GUEST_TIMEOUT=${LAB_GUEST_TIMEOUT:-420} # xl create -> domU SSH (measured ~80 s)
LAB_MEMORY=${LAB_MEMORY:-2048}              # MiB for the whole machine; dom0 gets 1024
state=$LAB_STATE_DIR
pidfile=$state/qemu.pid
console=$state/console.log
sshcfg=$state/ssh_config
# Ansible's SSH ControlMaster sockets: one directory per lab (the guest's address is the same
# in every lab, so shared sockets would mix two labs up), short enough for a socket path.
cpdir=/tmp/splitdriver-lab-$(printf '%s' "$state" | sha256sum | cut -c1-12)

# The QEMU of this lab, if it runs: the pid file's process, and only if its command line
# names this state directory (a recycled pid is somebody else's).
qemu_pid() {
    local pid
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$state/console.log" || return 1
    echo "$pid"
}

lab_ssh() {
    ssh -F "$sshcfg" -o BatchMode=yes "$@"
}

console_tail() {
    if [[ -f $console ]]; then
        log "last lines of the Xen/dom0 serial console ($console):"
        tail -n "${1:-40}" "$console" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' >&2
    fi
}

stop_qemu() {
    local pid
    pid=$(qemu_pid) || return 0
    log "stopping QEMU (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "QEMU did not stop on SIGTERM within 20 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

cmd_down() {
    stop_qemu
    rm -f "$state/dom0.qcow2" "$state/domu.qcow2" "$state/seed.img"
    rm -rf "$cpdir"
    log "lab down (console log kept: $console)"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_ssh_config() {
    local port=$1
    cat >"$sshcfg" <<EOF
# SSH access to this lab: ssh -F $sshcfg dom0 (or $LAB_GUEST)
Host *
    User root
    IdentityFile $state/id_ed25519
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    ConnectTimeout 10
    ServerAliveInterval 15

Host dom0
    HostName 127.0.0.1
    Port $port

Host $LAB_GUEST
    HostName $LAB_BRIDGE_NET.2
    ProxyJump dom0
EOF
}

write_inventory() {
    # Hosts are the ssh_config aliases: ssh_config holds the address, port, key and jump.
    cat >"$state/inventory.yml" <<EOF
# Written by lab/lab.sh for the lab in $state: dom0 runs the backends, $LAB_GUEST is a
# PV domU reached through dom0.
all:
  vars:
    ansible_user: root
    ansible_python_interpreter: /usr/bin/python3
    ansible_ssh_common_args: -F $sshcfg
    ansible_control_path_dir: $cpdir
    ansible_pipelining: true
  children:
    xen_backends:
      hosts:
        dom0:
          ansible_host: dom0
    xen_frontends:
      hosts:
        $LAB_GUEST:
          ansible_host: $LAB_GUEST
          splitdriver_xen_host: dom0
          splitdriver_xen_domain: $LAB_GUEST
          splitdriver_xen_devices:
            - type: mydevice
              devids: [0]
EOF
}

start_qemu() {
    local images=$1 port attempt
    for attempt in 1 2 3; do
        port=$(free_port)
        rm -f "$pidfile"
        : >"$console"
        # No commas inside the dom0 command line: QEMU splits -initrd on them.
        if qemu-system-x86_64 -name "splitdriver-xen-lab" \
            -accel tcg,thread=multi,tb-size=512 -cpu qemu64 -machine pc -smp 2 -m "$LAB_MEMORY" \
            -no-reboot -display none -serial "file:$console" \
            -kernel "$images/xen" \
            -append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M dom0_max_vcpus=2 noreboot" \
            -initrd "$images/vmlinuz root=/dev/vda rw console=hvc0 earlyprintk=xen net.ifnames=0,$images/initrd.img" \
            -drive "file=$state/dom0.qcow2,if=virtio,format=qcow2" \
            -drive "file=$state/domu.qcow2,if=virtio,format=qcow2" \
            -drive "file=$state/seed.img,if=virtio,format=raw,readonly=on" \
            -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" \
            -device virtio-net-pci,netdev=n0 \
            -pidfile "$pidfile" -daemonize 2>"$state/qemu.err"; then
            echo "$port" >"$state/port"
            log "QEMU started (pid $(<"$pidfile")), dom0 SSH on 127.0.0.1:$port"
            return 0
        fi
        grep -q 'host forwarding' "$state/qemu.err" || break
        log "port $port was taken meanwhile (attempt $attempt); picking another"
    done
    cat "$state/qemu.err" >&2
    die "QEMU did not start"
}

# Fail loudly, keep the evidence, leave nothing running.
on_boot_failure() {
    local rc=$?
    ((rc == 0)) && return 0
    console_tail 40
    if qemu_pid >/dev/null && lab_ssh -o ConnectTimeout=5 dom0 true 2>/dev/null; then
        log "last lines of $LAB_GUEST's console (/var/log/xen/console in dom0):"
        lab_ssh dom0 "tail -n 25 /var/log/xen/console/guest-$LAB_GUEST.log" 2>/dev/null | tr -d '\r' >&2 || true
    fi
    stop_qemu
    rm -rf "$cpdir"
    log "lab boot failed; console log kept in $console"
    exit "$rc"
}

guest_config() {
    local abi=$1
    cat <<EOF
name = "$LAB_GUEST"
type = "pv"
kernel = "/boot/vmlinuz-$abi"
ramdisk = "/boot/initrd.img-$abi"
extra = "root=/dev/xvda rw console=hvc0 net.ifnames=0 systemd.hostname=$LAB_GUEST"
memory = 384
vcpus = 1
disk = ["phy:/dev/vdb,xvda,w", "phy:/dev/vdc,xvdb,r"]
vif = ["bridge=xenbr0"]
on_crash = "preserve"
EOF
}

start_guest() {
    local abi=$1 start
    if lab_ssh dom0 "xl list $LAB_GUEST" >/dev/null 2>&1; then
        log "domU $LAB_GUEST is running"
    else
        LAB_PROGRESS_CMD="tail -c 2000 '$console' | tr -d '\r' | grep -v '^\s*$'" \
            wait_for "the Xen toolstack in dom0 (xl info)" 120 3 lab_ssh dom0 'xl info'
        log "starting PV domU $LAB_GUEST (xl create)"
        guest_config "$abi" | lab_ssh dom0 "cat > /etc/xen/$LAB_GUEST.cfg"
        start=$SECONDS
        timeout 180 ssh -F "$sshcfg" -o BatchMode=yes dom0 "xl create /etc/xen/$LAB_GUEST.cfg" >&2 ||
            die "xl create $LAB_GUEST failed or took more than 180 s"
        log "xl create: $((SECONDS - start))s"
    fi
    LAB_PROGRESS_CMD="lab_ssh dom0 'tail -c 2000 /var/log/xen/console/guest-$LAB_GUEST.log' | tr -d '\r' | grep -v '^\s*$'" \
        wait_for "SSH to $LAB_GUEST through dom0" "$LAB_GUEST_TIMEOUT" 5 lab_ssh "$LAB_GUEST" true
}

# Host packages and the cached images; records the image set used in $state/images.
cmd_images() {
    need_root
    local images t=$SECONDS
    bash "$LAB_DIR/setup.sh"
    images=$(bash "$LAB_DIR/images.sh")
    mkdir -p "$state"
    echo "$images" >"$state/images"
    log "images ready in $((SECONDS - t))s: $images"
}

# Xen and dom0 up with SSH (a running lab whose dom0 answers is reused).
cmd_boot() {
    need_root
    local images t
    [[ -f $state/images ]] || cmd_images
    images=$(<"$state/images")
    [[ -f $images/complete ]] || die "image set $images is gone: run lab/lab.sh images"
    [[ $state != *,* ]] || die "LAB_STATE_DIR must not contain commas (QEMU option syntax): $state"
    if qemu_pid >/dev/null; then
        if lab_ssh -o ConnectTimeout=10 dom0 true 2>/dev/null; then
            log "reusing the running lab (QEMU pid $(qemu_pid), $state)"
            return 0
        fi
        log "a QEMU of this lab runs but dom0 does not answer; restarting it"
        cmd_down
    fi

    [[ -f $state/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C "splitdriver-xen-lab" -f "$state/id_ed25519"
    local seed=$state/seed.d
    rm -rf "$seed"
    mkdir -p "$seed"
    install -m 0644 "$state/id_ed25519.pub" "$seed/authorized_keys"
    mkfs.ext4 -q -F -L lab-seed -d "$seed" "$state/seed.img" 8M
    rm -rf "$seed" "$cpdir"
    mkdir -m 0700 "$cpdir"
    # Copy-on-write overlays: the cached images are only ever read.
    rm -f "$state/dom0.qcow2" "$state/domu.qcow2"
    qemu-img create -q -f qcow2 -F raw -b "$images/dom0.img" "$state/dom0.qcow2"
    qemu-img create -q -f qcow2 -F raw -b "$images/domu.img" "$state/domu.qcow2"

    trap on_boot_failure EXIT
    start_qemu "$images"
    write_ssh_config "$(<"$state/port")"
    t=$SECONDS
    LAB_PROGRESS_CMD="tail -c 2000 '$console' | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | grep -v '^\s*$'" \
        wait_for "Xen to boot dom0 and dom0's SSH" "$LAB_BOOT_TIMEOUT" 3 lab_ssh -o ConnectTimeout=5 dom0 true
    trap - EXIT
    log "boot: $((SECONDS - t))s"
}

# The PV guest running and answering SSH through dom0, and the inventory written.
cmd_guest() {
    local abi t=$SECONDS
    qemu_pid >/dev/null || die "the lab is not running: run lab/lab.sh up"
    abi=$(sed -n 's/^abi=//p' "$(<"$state/images")/manifest")
    trap on_boot_failure EXIT
    start_guest "$abi"
    trap - EXIT
    write_inventory
    log "domU: $((SECONDS - t))s; inventory: $state/inventory.yml"
}

cmd_up() {
    local t0=$SECONDS
    cmd_images
    cmd_boot
    cmd_guest
    log "lab up in $((SECONDS - t0))s"
}

cmd_status() {
    local pid
    if pid=$(qemu_pid); then
        echo "lab running: QEMU pid $pid, state $state"
        echo "  QEMU memory: $(awk '/^VmRSS/ {r=$2} /^VmHWM/ {h=$2} END {printf "%d MiB now, %d MiB peak", r/1024, h/1024}' "/proc/$pid/status")"
        echo "  log in:    ssh -F $sshcfg dom0      (or: ssh -F $sshcfg $LAB_GUEST)"
        echo "  inventory: $state/inventory.yml"
        echo "  console:   $console"
        echo "  stop:      make lab-down"
    else
        echo "lab not running ($state)"
        return 1
    fi
}

# An interrupted command still runs its EXIT trap (QEMU stopped, console tail shown).
trap 'exit 130' INT TERM HUP

case ${1:-} in
up) cmd_up ;;
images) cmd_images ;;
boot) cmd_boot ;;
guest) cmd_guest ;;
down) cmd_down ;;
status) cmd_status ;;
ssh)
    shift
    [[ $# -ge 1 ]] || die "usage: lab/lab.sh ssh dom0|$LAB_GUEST [command...]"
    exec ssh -F "$sshcfg" "$@"
    ;;
*)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
