# shellcheck shell=bash
# Shared settings and helpers of the real-Xen lab scripts (sourced, never run).
#
# Settings (environment):
#   LAB_CACHE_DIR  image and .deb cache, shared by every lab on the machine and kept outside
#                  the clone (default /var/cache/splitdriver-xen-lab)
#   LAB_STATE_DIR  this lab instance: QEMU pid, console log, disk overlays, SSH key, inventory
#                  (default <clone>/lab/state)
#   LAB_GUEST      Xen domain name of the PV guest (default guest1)

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$LAB_DIR")
LAB_CACHE_DIR=${LAB_CACHE_DIR:-/var/cache/splitdriver-xen-lab}
LAB_STATE_DIR=${LAB_STATE_DIR:-$LAB_DIR/state}
LAB_GUEST=${LAB_GUEST:-guest1}
LAB_SUITE=bookworm
# The guests' private network behind the bridge xenbr0 inside dom0 (never leaves the VM).
LAB_BRIDGE_NET=10.99.0
export LAB_CACHE_DIR LAB_STATE_DIR LAB_GUEST LAB_DIR REPO_DIR LAB_SUITE LAB_BRIDGE_NET

log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "run as root (the lab installs packages and builds disk images)"
}

# Run "$@" until it succeeds, at most $2 seconds, every $3 seconds; $1 says what we wait for.
# Progress goes to stderr every ~15 s, with the output of LAB_PROGRESS_CMD if that is set.
wait_for() {
    local what=$1 limit=$2 every=$3 start now last=0
    shift 3
    start=$SECONDS
    log "waiting for $what (at most ${limit}s)"
    until "$@" >/dev/null 2>&1; do
        now=$((SECONDS - start))
        if ((now >= limit)); then
            log "gave up waiting for $what after ${now}s"
            return 1
        fi
        if ((now - last >= 15)); then
            last=$now
            if [[ -n ${LAB_PROGRESS_CMD:-} ]]; then
                log "  ... ${now}s: $(eval "$LAB_PROGRESS_CMD" 2>/dev/null | tail -n 1 | cut -c1-110)"
            else
                log "  ... ${now}s"
            fi
        fi
        sleep "$every"
    done
    log "$what: ready after $((SECONDS - start))s"
}

# The host's Debian mirrors, as its apt is configured (main suite and security suite).
debian_mirror() {
    # shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
    apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 2>/dev/null |
        awk -v r="$1" '$2 == r && $3 == "main" { print $1; exit }'
}
