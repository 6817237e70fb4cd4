#!/usr/bin/env bash
# test/fresh/check.sh -- proof that the README's two commands work as the
# FIRST command on a fresh Debian bookworm machine that has only git and make.
#
#   1. A bare bookworm root (debootstrap --variant=minbase) is built once and
#      cached outside the clone ($MB_FRESH_CACHE, default
#      /var/cache/membudget-fresh); later runs reuse it.
#   2. Each run works in a throw-away copy of that root: a clean clone of HEAD
#      is copied in, git and make are installed, /proc, /dev and /sys are
#      mounted, and `make demo`, then `make test`, run there as root with no
#      terminal and a clean environment.
#   3. On every path (success, failure, signal) stray processes are killed,
#      everything mounted is unmounted, and the copy is removed. The copy is
#      removed only once nothing is mounted under it, and never across a
#      file-system boundary, so a failed unmount cannot reach the host's /dev.
#
# The Debian mirror is read from this machine's own apt sources at run time;
# no host name is written here. Needs root (debootstrap, chroot, mount).
# Prints each command's last lines (all of the last ones on failure), the test
# runner's "tests: N passed, N failed" line, then its own closing line.
#
#   usage: test/fresh/check.sh            (make fresh-check)
#   env:   MB_FRESH_CACHE   where the bare root is cached
#          MB_FRESH_TIMEOUT seconds allowed for each command (default 3000)
#          MB_FRESH_KEEP_LOGS=DIR  copy the two logs there (kept on failure anyway)
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${MB_FRESH_CACHE:-/var/cache/membudget-fresh}
limit=${MB_FRESH_TIMEOUT:-3000}
suite=bookworm
t_start=$SECONDS

say() { printf 'fresh-check: %s\n' "$*"; }
die() { say "FAILED: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot and mount); run it as root"

# --- the mirror, from this machine's apt sources --------------------------------
. "$repo/test/apt_sources.sh"
mirror=$(apt_mirror "$suite")
security=$(apt_mirror "$suite-security")
[ -n "$mirror" ] || die "no apt source for '$suite' on this machine (looked in /etc/apt/sources.list{,.d})"

# --- the cached bare root ---------------------------------------------------------
bare=$cache/$suite-minbase
t0=$SECONDS
if [ ! -f "$bare/.membudget-complete" ]; then
    if ! command -v debootstrap > /dev/null; then
        say "installing debootstrap on this machine"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends debootstrap; } > /dev/null ||
            die "could not install debootstrap"
    fi
    say "building a bare $suite root (debootstrap --variant=minbase) into $bare"
    mkdir -p "$cache" || die "cannot create $cache"
    tmpbare=$(mktemp -d "$cache/.build.XXXXXX")
    if ! debootstrap --variant=minbase "$suite" "$tmpbare" "$mirror" > "$cache/debootstrap.log" 2>&1; then
        tail -n 20 "$cache/debootstrap.log"
        rm -rf --one-file-system "$tmpbare"
        die "debootstrap failed (log: $cache/debootstrap.log)"
    fi
    touch "$tmpbare/.membudget-complete"
    rm -rf --one-file-system "$bare"
    mv "$tmpbare" "$bare" || die "cannot move the new root into place"
    say "bare root built in $((SECONDS - t0)) s"
else
    say "reusing the bare $suite root cached in $bare"
fi

# --- the throw-away copy, and cleaning up on every path -------------------------
work=$(mktemp -d /var/tmp/membudget-fresh.XXXXXX) || die "mktemp failed"
root=$work/root
logs=$work/logs
mkdir -p "$logs"

# Mount points under $root, deepest first (from the kernel's own table).
mounts_under() {
    awk -v r="$root" '$5 == r || index($5, r "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}
# Processes whose root directory is the copy (left behind by a test, say).
procs_in_root() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && echo "${p#/proc/}"
    done
}
cleanup() {
    local rc=$? pids m
    trap - EXIT INT TERM
    # A test cluster the copy's make test left up (a failure half-way):
    # its bridge, iptables rules and cgroups belong to this machine.
    if [ -d "$root/var/tmp/membudget-e2e-cluster/run" ] && [ -x "$root/root/membudget/test/cluster/down" ]; then
        chroot "$root" /root/membudget/test/cluster/down --dir /var/tmp/membudget-e2e-cluster > /dev/null 2>&1 ||
            say "WARNING: test/cluster/down in the copy failed"
    fi
    for sig in TERM KILL; do
        pids=$(procs_in_root)
        [ -n "$pids" ] || break
        kill -s "$sig" $pids 2>/dev/null
        sleep 1
    done
    for _ in 1 2 3; do
        for m in $(mounts_under); do umount "$m" 2>/dev/null; done
        [ -z "$(mounts_under)" ] && break
        sleep 1
    done
    for m in $(mounts_under); do umount -l "$m" 2>/dev/null; done
    if [ -n "$(mounts_under)" ]; then
        say "WARNING: still mounted, copy left in place: $(mounts_under | tr '\n' ' ')"
        [ "$rc" = 0 ] && rc=1
    else
        if [ "$rc" != 0 ] || [ -n "${MB_FRESH_KEEP_LOGS:-}" ]; then
            keep=${MB_FRESH_KEEP_LOGS:-/var/tmp/membudget-fresh-logs}
            mkdir -p "$keep" && cp "$logs"/*.log "$keep"/ 2>/dev/null &&
                say "logs kept in $keep"
        fi
        rm -rf --one-file-system "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
cp -a "$bare" "$root" || die "cannot copy the bare root"
rm -f "$root/.membudget-complete"
# debootstrap wrote into a mktemp directory (0700): a machine's / is 0755,
# or no other user could run anything in it.
chmod 0755 "$root"
{
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    [ -n "$security" ] && echo "deb $security $suite-security main"
} > "$root/etc/apt/sources.list"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
# The machine's own trust, as its resolv.conf: a machine on this network
# trusts the same certificate authorities (here the egress proxy's, without
# which the Go module proxy's certificate does not verify). The local CAs
# too, so that ca-certificates keeps them when it rebuilds the bundle.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    cp -L /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null
fi
# A clean clone of HEAD: what is committed, nothing else.
git clone -q --no-hardlinks "$repo" "$root/root/membudget" || die "git clone of $repo failed"
say "copy of the root and a clean clone of $(git -C "$repo" rev-parse --short HEAD) ready in $((SECONDS - t0)) s"

# The copy's / is a mount point, as a machine's / is (the kubelet looks up
# the mount that holds its root directory in /proc/self/mountinfo).
mount --bind "$root" "$root" || die "cannot bind the copy onto itself"
mount -t proc proc "$root/proc" || die "cannot mount /proc"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" || die "cannot bind /dev"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys" || die "cannot bind /sys"
# This machine's Go module and build caches, shared with the copy: the test
# cluster's components (test/cluster/build) are Go modules that take minutes
# to compile; the copy still fetches its own Go toolchain and builds and
# links every binary itself.
if command -v go > /dev/null; then
    for pair in "$(go env GOMODCACHE):/root/go/pkg/mod" "$(go env GOCACHE):/root/.cache/go-build"; do
        src=${pair%%:*} dst=$root${pair#*:}
        [ -d "$src" ] || continue
        mkdir -p "$dst" && mount --bind "$src" "$dst" || die "cannot bind $src into the copy"
    done
    say "sharing this machine's Go caches: $(go env GOMODCACHE), $(go env GOCACHE)"
fi

# run_in NAME COMMAND: run COMMAND in the copy as root, no terminal, a clean
# environment; its output goes to $logs/NAME.log. Sets $took.
run_in() {
    local name=$1 cmd=$2 t rc
    t=$SECONDS
    setsid --wait timeout --kill-after=30 "$limit" \
        chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${CI:+CI=$CI} /bin/bash -c "$cmd" < /dev/null > "$logs/$name.log" 2>&1 &
    wait $!    # in the background, so a signal to this script is handled at once
    rc=$?
    took=$((SECONDS - t))
    [ "$rc" = 124 ] && echo "(timed out after $limit s)" >> "$logs/$name.log"
    return "$rc"
}

run_in setup 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git make' ||
    { tail -n 30 "$logs/setup.log"; die "installing git and make in the fresh root failed"; }
t_setup=$took
say "git and make installed in the fresh root in $t_setup s"

declare -A t_step
for step in demo test; do
    if run_in "$step" "cd /root/membudget && make $step"; then
        t_step[$step]=$took
        say "make $step: ok in $took s; its last lines:"
        tail -n 8 "$logs/$step.log" | sed 's/^/    /'
    else
        say "make $step: FAILED after $took s; its last lines:"
        tail -n 60 "$logs/$step.log" | sed 's/^/    /'
        die "make $step failed as the first command on a fresh $suite root"
    fi
done
# The test runner's summary, alone on its line, then ours.
grep -E '^tests: [0-9]+ passed, [0-9]+ failed' "$logs/test.log" | tail -n 1
say "ok: make demo ${t_step[demo]} s, make test ${t_step[test]} s (git+make ${t_setup} s), $((SECONDS - t_start)) s in all"
