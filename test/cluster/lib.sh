# test/cluster/lib.sh -- sourced by the cluster scripts (up, down, build,
# load-image, install-membudget): messages, the cache, the Go toolchain, and
# the fixed facts of the test bed (addresses, ports, names).
#
# Every upstream component is a Go module pinned in a small module of its own
# under test/cluster/<component>/ (go.mod + go.sum committed); this file only
# names them. Built binaries are cached by component, version and the hash of
# the module's go.mod/go.sum, so a second `up` builds nothing.

cluster_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$cluster_src/../.." && pwd)
cache=${MB_CLUSTER_CACHE:-/var/cache/membudget-cluster}

# The Go the components need: go.mod of k8s.io/kubernetes says 1.26.0.
GO_MIN=1.26
# When the machine's Go is older (Debian bookworm's golang-go is 1.19), this
# one comes from the Go module proxy as the module golang.org/toolchain.
GO_TOOLCHAIN_VERSION=1.26.8

# --- the test bed's fixed facts -----------------------------------------------
# One bridge; its host side is the node's address, the API server's advertised
# address and the only address the control plane binds besides loopback. Pods
# get routes to the pod and service ranges only: no default route, so nothing
# a pod sends can leave this machine.
BRIDGE=mbcni0
NODE_IP=10.244.0.1
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
NODE_NAME=mbnode
# The sandbox image: Kubernetes' own pause.c (build/pause), under the version
# kubeadm names for this release; imported, never pulled.
PAUSE_IMAGE=membudget.test/pause:3.10.2
# cgroup parent of every pod, per v1 hierarchy: /sys/fs/cgroup/<c>/membudget-test
CGROUP_ROOT=/membudget-test
ETCD_PORT=2379
ETCD_PEER_PORT=2380
APISERVER_PORT=6443
KCM_PORT=10257
SCHEDULER_PORT=10259
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
PROXY_HEALTHZ_PORT=10256
PROXY_METRICS_PORT=10249
METRICS_SERVER_PORT=4443
# kwok's fake nodes (test/cluster/fake-nodes): their pods' IPs, with a blackhole
# route while kwok runs (nothing answers there, nothing leaves the machine).
KWOK_CIDR=10.128.0.0/14
KWOK_NODE_IP=10.131.255.254
# fake-nodes --endpoints: a network namespace that owns $KWOK_CIDR (a local
# route), reached over a veth pair from this machine and from the pods, where
# one process (test/bench/responder) answers for every kwok pod's IP.
FAKE_NETNS=mbfake
FAKE_VETH=mbfake0
FAKE_HOST_IP=10.132.0.1
FAKE_NS_IP=10.132.0.2
# ... and kwok's server there (on $FAKE_HOST_IP, the fake nodes' InternalIP):
# each fake node's /metrics/resource, for the real metrics-server.
KWOK_SERVER_PORT=10247
# The iptables chain that keeps forwarding on the bridge (pod to pod through
# a Service); anything else that would be forwarded is dropped.
FWD_CHAIN=MEMBUDGET-TEST-FWD
# The fallback route of every range the cluster uses: `unreachable`, at a
# metric above the kernel's (0), so that each range's own route (the
# bridge's, kwok's blackhole, the veth to fake-nodes' namespace) wins while
# it exists, and nothing else ever does. When the bridge goes (a stray `ip
# link del`, a crash), a component still bound to $NODE_IP gets "No route to
# host" instead of the default route carrying its traffic off the machine.
FALLBACK_METRIC=4242
ISOLATED_RANGES="$POD_CIDR $SERVICE_CIDR $KWOK_CIDR ${FAKE_HOST_IP%.*}.0/30"
# One test cluster per machine: this file names its owner (one line:
# dir=DIR id=DEV:INODE pid=PID since=TIME; empty when free). It lives on
# /dev/shm, which every chroot of this machine shares (test/fresh binds
# /dev) and a reboot empties, as it empties the network the cluster made.
# The inode tells the host's /var/tmp/x from a chroot's /var/tmp/x.
LOCK_FILE=/dev/shm/membudget-test-cluster.lock

say() { printf '%s: %s\n' "${prog:-cluster}" "$*"; }
die() { printf '%s: error: %s\n' "${prog:-cluster}" "$*" >&2; exit 1; }
elapsed() { local s=$1; printf '%dm%02ds' $((s / 60)) $((s % 60)); }

need_root() {
    [ "$(id -u)" = 0 ] || die "must run as root: it starts a kubelet, containerd and runc, and creates a bridge, network namespaces, iptables rules and cgroups"
}

# --- Go -----------------------------------------------------------------------
# go_version_ok GO: true when GO is at least $GO_MIN.
go_version_ok() {
    local v
    v=$("$1" env GOVERSION 2>/dev/null) || v=$("$1" version 2>/dev/null | awk '{print $3}')
    v=${v#go}
    [ -n "$v" ] || return 1
    [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -n 1)" = "$GO_MIN" ]
}

# find_go: sets $GO to a Go at least $GO_MIN: the machine's own when new
# enough, else golang.org/toolchain from the Go module proxy (fetched with
# whatever Go the machine has, Debian's included), unpacked into the cache.
find_go() {
    local g
    for g in "${GO:-}" "$(command -v go 2>/dev/null)" /usr/local/go/bin/go; do
        if [ -n "$g" ] && [ -x "$g" ] && go_version_ok "$g"; then GO=$g; return 0; fi
    done
    local tc=$cache/go$GO_TOOLCHAIN_VERSION
    if [ -x "$tc/bin/go" ] && go_version_ok "$tc/bin/go"; then GO=$tc/bin/go; return 0; fi
    g=$(command -v go 2>/dev/null) || die "no Go on this machine: install Debian's golang-go (make deps does), which fetches Go $GO_TOOLCHAIN_VERSION from the Go module proxy"
    local mod=golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-$(dpkg --print-architecture 2>/dev/null || echo amd64)
    say "the machine's Go ($("$g" version | awk '{print $3}')) is older than $GO_MIN: fetching $mod from the Go module proxy"
    local tmp dir
    tmp=$(mktemp -d)
    dir=$(cd "$tmp" && GOFLAGS=-mod=mod GO111MODULE=on "$g" mod download -json "$mod" 2>"$tmp/err" |
          sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p') || true
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then
        cat "$tmp/err" >&2; (cd "$tmp" && "$g" env | grep -E '^(GOPROXY|GOSUMDB|GOPATH|GOMODCACHE|GOFLAGS)=') >&2; rm -rf "$tmp"
        die "could not fetch $mod: is the Go module proxy reachable (GOPROXY=$("$g" env GOPROXY))?"
    fi
    rm -rf "$tmp" "$tc.tmp"
    mkdir -p "$cache"
    cp -r "$dir" "$tc.tmp" && chmod -R u+w "$tc.tmp" &&
        chmod +x "$tc.tmp"/bin/* "$tc.tmp"/pkg/tool/*/* || die "could not unpack $mod into $tc"
    rm -rf "$tc" && mv "$tc.tmp" "$tc"
    go_version_ok "$tc/bin/go" || die "$tc/bin/go does not run"
    GO=$tc/bin/go
}

# --- cached builds ------------------------------------------------------------
# module_version DIR MODULE: the version of MODULE that DIR's go.mod requires.
module_version() {
    (cd "$1" && GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" list -m -f '{{.Version}}' "$2")
}

# build_key NAME: NAME-<hash of its module files and of this file's build
# recipe> under which its binaries are cached.
build_key() {
    local h
    h=$(cat "$cluster_src/$1/go.mod" "$cluster_src/$1/go.sum" "$cluster_src/build" | sha256sum | cut -c1-12)
    echo "$1-$h"
}

# run_with_progress LABEL CMD...: runs CMD (a go build -v), printing every
# 30 s how long it has run and how many packages it has compiled; its output
# goes to $cache/log/LABEL.log and is printed at the end if it fails.
run_with_progress() {
    local label=$1; shift
    local log=$cache/log/$label.log t0=$SECONDS pid n
    mkdir -p "$cache/log"
    "$@" > "$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        if kill -0 "$pid" 2>/dev/null; then
            # (grep -c exits 1 on 0: packages taken from Go's build cache are not printed)
            n=$(grep -c -v -e '^#' -e '^go: ' "$log" 2>/dev/null) || true
            say "  $label: building, $(elapsed $((SECONDS - t0))) so far, ${n:-0} packages compiled (not counting Go's build cache)"
        fi
    done
    if ! wait "$pid"; then
        tail -n 40 "$log" >&2
        die "building $label failed after $(elapsed $((SECONDS - t0))) (log: $log)"
    fi
    say "  $label: built in $(elapsed $((SECONDS - t0)))"
}

# --- processes (of the cluster in $dir) ---------------------------------------
# running NAME: true when DIR/run/NAME.pid names a live process of ours.
# A process in the middle of an exec (bash's child becoming setsid, setsid
# becoming the component) cannot have its cmdline read for a moment (read
# error ESRCH, or nothing): read again then, for up to a second, rather than
# take it for gone. (This was `tr < cmdline | grep` under pipefail: tr's read
# error made a running component "exited before healthy", in CI for etcd and
# here once for kube-proxy, with nothing in its log.)
running() {
    local pid cmd
    pid=$(cat "$dir/run/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] || return 1
    for _ in $(seq 20); do
        [ -r "/proc/$pid/cmdline" ] || return 1
        cmd=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")
        [ -n "$cmd" ] && break
        sleep 0.05
    done
    grep -- "$dir" <<< "$cmd" > /dev/null
}
# port_free PORT [ADDR]: nothing but us listens there.
port_free() {
    ! ss -ltnH "sport = :$1" 2>/dev/null | grep . > /dev/null
}
# need_port NAME PORT: dies naming who holds PORT, unless NAME (of this
# cluster) runs already or the port is free.
need_port() {
    running "$1" || port_free "$2" ||
        die "port $2 is taken, $1 cannot listen on it: $(ss -ltnpH "sport = :$2" | sed -n 1p) (another cluster? test/cluster/down --dir DIR stops one)"
}
# start NAME PORT CMD...: starts CMD in a session of its own, logs in DIR/logs.
# CMD is kept in DIR/run/NAME.cmd for wait_until's one restart.
start() {
    local name=$1 port=$2; shift 2
    if running "$name"; then say "$name: already running (pid $(cat "$dir/run/$name.pid"))"; return 0; fi
    [ "$port" = - ] || need_port "$name" "$port"
    mkdir -p "$dir/logs" "$dir/run"
    printf '%q ' "$@" > "$dir/run/$name.cmd"
    launch "$name"
}
launch() {
    local name=$1
    eval "setsid $(cat "$dir/run/$name.cmd")" '>> "$dir/logs/$name.log" 2>&1 < /dev/null &'
    echo $! > "$dir/run/$name.pid"
    state_add proc "$name" $! "$(proc_start $!)"
    say "$name: started (pid $!, log $dir/logs/$name.log)"
}
# how_ended NAME: sets how to how NAME's process, gone, ended: "exited with
# status N", "killed by SIGNAME" (wait reaps it: this shell, not a subshell).
how_ended() {
    local pid rc
    pid=$(cat "$dir/run/$1.pid" 2>/dev/null) || { how="gone (no pid file)"; return; }
    # (not gone after all: wait would block; a zombie is gone)
    if kill -0 "$pid" 2>/dev/null && ! ps -o stat= -p "$pid" 2>/dev/null | grep -q '^Z'; then
        how="still there (pid $pid) but /proc/$pid does not name $dir"; return
    fi
    wait "$pid" 2>/dev/null && rc=0 || rc=$?
    if [ "$rc" -gt 128 ]; then how="killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
    elif [ "$rc" = 127 ]; then how="gone (pid $pid, not started by this up)"
    else how="exited with status $rc"; fi
}
# wait_until LABEL SECONDS NAME CMD...: polls CMD every half second; fails
# with NAME's last log lines and how it ended when NAME died or time ran out.
# A NAME killed by a signal before LABEL (an OOM kill, a stray kill: nothing
# of ours sends one) is started again, once, and says so.
wait_until() {
    local label=$1 limit=$2 name=$3 t0=$SECONDS how again=0; shift 3
    until "$@" > /dev/null 2>&1; do
        if ! running "$name"; then
            how_ended "$name"
            if [ "$again" = 0 ] && [[ $how == killed* ]] && [ -s "$dir/run/$name.cmd" ]; then
                say "$name: $how before $label; its log's last lines:"
                tail -n 5 "$dir/logs/$name.log" 2>/dev/null | sed 's/^/    /' >&2
                say "$name: starting it again (once)"
                again=1; t0=$SECONDS
                launch "$name"
                continue
            fi
            tail -n 25 "$dir/logs/$name.log" >&2 || true
            die "$name $how before $label (log: $dir/logs/$name.log)"
        fi
        if [ $((SECONDS - t0)) -ge "$limit" ]; then
            tail -n 25 "$dir/logs/$name.log" >&2 || true
            die "$name: not $label after $limit s (log: $dir/logs/$name.log)"
        fi
        sleep 0.5
    done
    say "$name: $label ($(elapsed $((SECONDS - t0))))"
}

# --- one cluster per machine: the lock, and the state file ---------------------
# DIR/state lists, one per line, everything `up` (and fake-nodes) made
# outside DIR, written *before* each thing is made, so that `down` undoes
# exactly that list, also after a SIGKILL half-way:
#   route TYPE PREFIX METRIC  (ip route del TYPE PREFIX metric METRIC)
#   link NAME                 (ip link del NAME: the bridge, a veth)
#   netns NAME                (ip netns del NAME)
#   sysctl NAME OLD           (set back to OLD)
#   chain TABLE NAME          (iptables -F, -X)
#   rule TABLE CHAIN SPEC...  (iptables -D CHAIN SPEC)
#   kube-iptables             (what kube-proxy and the kubelet write: kube-proxy
#                              --cleanup, then every KUBE-* chain; `up` refuses
#                              a machine that has any before it starts)
#   cgroup PATH               (its processes killed, then removed leaves first)
#   proc NAME PID START       (killed when PID still started at START)
# Nothing is found by a broad name: what is not listed is not touched.

# state_has LINE / state_add LINE...: DIR/state, each line once.
state_has() { [ -f "$dir/state" ] && grep -qxF -- "$*" "$dir/state"; }
state_add() { state_has "$*" || printf '%s\n' "$*" >> "$dir/state"; }
# proc_start PID: the process's start time (clock ticks since boot, field 22
# of /proc/PID/stat), which a reused PID does not share.
proc_start() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }'; }
dir_id() { stat -c '%d:%i' "$1"; }
# lock_field NAME: the field of the owner line in $lock_line.
lock_field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<< "$lock_line"; }
# lock_open: takes the lock file's flock (fd 9) for a short critical section
# and reads the owner line into $lock_line; lock_close lets it go.
lock_open() {
    exec 9<> "$LOCK_FILE" || die "cannot open $LOCK_FILE"
    flock -x -w 60 9 || die "$LOCK_FILE: another up or down held it for 60 s"
    lock_line=$(cat "$LOCK_FILE")
}
lock_close() { flock -u 9; exec 9>&-; }
# lock_is_mine: the owner line names this DIR (the same inode).
lock_is_mine() { [ -n "$lock_line" ] && [ "$(lock_field id)" = "$(dir_id "$dir")" ]; }
lock_owner() { echo "$(lock_field dir) (up as pid $(lock_field pid), since $(lock_field since))"; }

# leftovers: what of the test bed's names this machine has, one per line:
# made by no cluster that holds the lock (an older test bed, a lost DIR, a
# real Kubernetes node): `up` refuses to adopt any of it.
leftovers() {
    local r
    ip link show "$BRIDGE" > /dev/null 2>&1 && echo "the bridge $BRIDGE"
    ip link show "$FAKE_VETH" > /dev/null 2>&1 && echo "the veth $FAKE_VETH"
    ip netns list 2>/dev/null | grep -q "^$FAKE_NETNS\b" && echo "the network namespace $FAKE_NETNS"
    for r in $ISOLATED_RANGES; do
        ip route show "$r" 2>/dev/null | grep -q . && echo "a route to $r"
    done
    iptables -w -S "$FWD_CHAIN" > /dev/null 2>&1 && echo "the iptables chain $FWD_CHAIN"
    iptables-save 2>/dev/null | grep -q -- '-j KUBE-\|^:KUBE-' && echo "KUBE-* iptables chains (iptables-save | grep KUBE-)"
    for r in /sys/fs/cgroup/*"$CGROUP_ROOT"; do
        [ -d "$r" ] && find "$r" -name cgroup.procs -exec cat {} + 2>/dev/null | grep -q . && echo "processes in $r"
    done
    return 0
}

# claim_machine: the lock for DIR, or death naming who holds it. Taken
# before anything is made; idempotent for the DIR that holds it.
claim_machine() {
    local left
    lock_open
    if [ -n "$lock_line" ]; then
        lock_is_mine && { lock_close; return 0; }
        lock_close
        die "a test cluster runs on this machine already: $(lock_owner); one cluster per machine (test/cluster/down --dir $(lock_field dir) stops it)"
    fi
    left=$(leftovers)
    if [ -n "$left" ]; then
        lock_close
        die "no test cluster holds this machine ($LOCK_FILE is free), yet it has: $(echo "$left" | paste -sd ';' | sed 's/;/; /g'). Left by a cluster whose directory is gone, or not a test bed's at all: up will not adopt them; remove them by hand once you know whose they are"
    fi
    printf 'dir=%s id=%s pid=%s since=%s\n' "$dir" "$(dir_id "$dir")" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$LOCK_FILE"
    lock_close
    state_add lock
}
# release_machine: frees the lock when DIR holds it.
release_machine() {
    lock_open
    lock_is_mine && : > "$LOCK_FILE"
    lock_close
}

# isolate_ranges: the fallback route of each range (FALLBACK_METRIC).
isolate_ranges() {
    local r
    for r in $ISOLATED_RANGES; do
        state_add route unreachable "$r" "$FALLBACK_METRIC"
        ip route show type unreachable "$r" 2>/dev/null | grep -q "metric $FALLBACK_METRIC" ||
            ip route add unreachable "$r" metric "$FALLBACK_METRIC" || die "cannot add the route unreachable $r"
    done
}
# bridge_up: the bridge with the node's address (its kernel route is the pod
# range's own), the service range routed to it from this machine (kube-proxy
# DNATs there; without the bridge the fallback answers), and forwarding from
# the bridge to the bridge only.
bridge_up() {
    if ! ip link show "$BRIDGE" > /dev/null 2>&1; then
        state_add link "$BRIDGE"
        ip link add "$BRIDGE" type bridge || die "cannot create the bridge $BRIDGE"
    fi
    ip addr show dev "$BRIDGE" | grep "inet $NODE_IP/" > /dev/null || ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE" ||
        die "cannot give $BRIDGE the address $NODE_IP (is $POD_CIDR used on this machine already? $(ip -br addr | grep -F "${NODE_IP%.*}." | head -n 1))"
    ip link set "$BRIDGE" up
    ip route replace "$SERVICE_CIDR" dev "$BRIDGE" src "$NODE_IP" || die "cannot route $SERVICE_CIDR to $BRIDGE"
    state_add chain filter "$FWD_CHAIN"
    iptables -w -N "$FWD_CHAIN" 2>/dev/null || true
    iptables -w -F "$FWD_CHAIN"
    iptables -w -A "$FWD_CHAIN" -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    iptables -w -A "$FWD_CHAIN" -j DROP
    state_add rule filter FORWARD -j "$FWD_CHAIN"
    iptables -w -C FORWARD -j "$FWD_CHAIN" 2>/dev/null || iptables -w -I FORWARD 1 -j "$FWD_CHAIN"
}
# set_sysctl NAME VALUE: its old value kept in the state for down.
set_sysctl() {
    grep -q "^sysctl $1 " "$dir/state" 2>/dev/null || state_add sysctl "$1" "$(sysctl -n "$1")"
    sysctl -q -w "$1=$2"
}
# network_up: the test bed's network on this machine, as up makes it.
network_up() {
    isolate_ranges
    bridge_up
    # Sysctls the node needs; their old values are kept for down.
    set_sysctl net.ipv4.ip_forward 1
    set_sysctl net.bridge.bridge-nf-call-iptables 1
}
