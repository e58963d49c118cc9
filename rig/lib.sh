# lib.sh: the helpers rig/record.sh and rig/detect.sh share, sourced by
# both after they define NS_PREFIX, STATE, RIG_DIR, PID_OF, STARTED, the
# lock descriptor and log(). Not run on its own.

die() {
	log "FAIL: $*"
	exit 1
}

# serialise SCRIPT SECONDS ARGS...: one run at a time (flock on $LOCK),
# then the global time bound: the first call re-executes rig/SCRIPT under
# timeout(1) holding the lock and does not return; in that second life it
# sets lockfd to the inherited descriptor. The lock is taken before the
# re-execution: the open file description (and so the lock) passes to
# timeout and to the script's second life, and waiting for another run
# does not eat the time bound. Daemons must not inherit the lock (if the
# run were killed with SIGKILL, orphans holding it would block the next
# run, whose first job is to clean them up): everything started in a
# namespace gets {lockfd}>&-.
serialise() {
	local script=$1 bound=$2
	shift 2
	if [[ -z ${VIGIL_RIG_LOCKFD:-} ]]; then
		exec {lockfd}>"$LOCK"
		flock -w 300 "$lockfd" || die "another rig run holds $LOCK"
		export VIGIL_RIG_LOCKFD=$lockfd
		exec timeout --kill-after=20 "$bound" bash "$RIG_DIR/$script" "$@"
	fi
	lockfd=$VIGIL_RIG_LOCKFD
	unset VIGIL_RIG_LOCKFD
}

# nsx DEV CMD...: run CMD as device DEV (see nsexec.sh).
nsx() {
	local d=$1
	shift
	ip netns exec "$NS_PREFIX$d" unshare --uts -- "$RIG_DIR/nsexec.sh" "$STATE/dev/$d" "$@" {lockfd}>&-
}

# start_bg NAME DEV CMD...: start a long-running process as DEV, in the
# foreground of its own (no self-daemonising), so that $! is its PID.
start_bg() {
	local name=$1 d=$2
	shift 2
	# A simple command, not the nsx function: bash forks and execs it, so
	# $! is the PID of the exec chain (a function would leave a subshell).
	ip netns exec "$NS_PREFIX$d" unshare --uts -- "$RIG_DIR/nsexec.sh" "$STATE/dev/$d" "$@" \
		>"$STATE/log/$name.log" 2>&1 {lockfd}>&- &
	PID_OF[$name]=$!
	STARTED+=("$name")
}

# wait_until SECONDS CMD...: poll CMD every 50 ms.
wait_until() {
	local deadline=$((SECONDS + $1 + 1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}

# listening DEV tcp|udp PORT
listening() {
	local flag=-t
	[[ $2 == udp ]] && flag=-u
	[[ -n $(ip netns exec "$NS_PREFIX$1" ss -Hln "$flag" "sport = :$3") ]]
}

# await_listen NAME DEV PROTO PORT: the daemon NAME listens, or the run fails.
await_listen() {
	wait_until 10 listening "$2" "$3" "$4" || {
		tail -n 20 "$STATE/log/$1.log" >&2 || true
		die "$1 does not listen on $3/$4 in $2"
	}
}

# stop_processes ends every process this run started, by PID: TERM in
# reverse start order, then KILL whatever is left after 3 s.
stop_processes() {
	local i name pid deadline
	for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
		name=${STARTED[i]}
		kill -TERM "${PID_OF[$name]}" 2>/dev/null || true
	done
	deadline=$((SECONDS + 3))
	for name in "${STARTED[@]}"; do
		pid=${PID_OF[$name]}
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	STARTED=()
}

# sweep_namespaces deletes every vrig-* namespace, first killing by PID
# any process still inside (daemon children, or leftovers of a run that
# was killed with SIGKILL: the lock guarantees no other run owns them).
sweep_namespaces() {
	local ns pid
	for ns in $(ip netns list | awk '{print $1}'); do
		[[ $ns == "$NS_PREFIX"* ]] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
	done
}

# mkns NAME: a namespace with loopback up and IPv6 off (keeps the truth
# exact: no link-local addresses, router solicitations or MLD reports).
mkns() {
	ip netns add "$NS_PREFIX$1"
	ip netns exec "$NS_PREFIX$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
}
