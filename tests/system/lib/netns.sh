# shellcheck shell=bash
# Helpers of the system tests that need a LAN (sourced, not run): a throw-away Ethernet segment of
# network namespaces, so that `shoal run` nodes see each other as separate hosts (each with its
# own ports 8642/8643) without touching the machine's own interfaces, addresses or routes.
#
#   "switch" namespace ${NS_PREFIX}-sw   bridge ${NS_PREFIX}br, address 10.213.0.2/24 (the test's
#                                        client: every curl of the test runs from here)
#   host namespace i    ${NS_PREFIX}-hI  eth0 = 10.213.0.(10+i)/24 brd 10.213.0.255, lo up; its
#                                        veth peer ${NS_PREFIX}hI is a port of the bridge. Host 3's
#                                        interface is named veth0 instead, as inside many
#                                        containers: discovery must use it too
#
# Nothing is ever created in the root namespace: each veth pair is created inside the switch
# namespace with its other end placed directly into the host namespace. NS_PREFIX is "sht<pid of
# the test>"; the EXIT trap kills every process started (and anything else left inside the
# namespaces) and deletes the namespaces, which takes their veths and the bridge with them.
# netns_reap_stale removes what an earlier run killed with -9 left behind (names "sht<pid>-*"
# whose test process is gone).
#
#   netns_require                 prints "SKIP: needs root and ip netns" and exits 77 (skipped) when
#                                 impossible
#   netns_setup H                 the switch and host namespaces 1..H
#   netns_host_add I              one more host namespace I (after netns_setup)
#   netns_ip I                    10.213.0.(10+I)
#   netns_reach NS IP             NS reaches IP (a TCP connection to port 9 is refused, not lost)
#   ns_exec I CMD...              CMD inside host namespace I
#   nscurl ARGS...                curl from the switch namespace (--max-time 20)
#   node_start_ns I NAME STATE_DIR ARGS...
#                                 `shoal run ARGS` in namespace I with XDG_STATE_HOME=STATE_DIR;
#                                 sets PIDS[NAME], LOGS[NAME], HOSTS[NAME]=I
#   node_stop NAME                kill -9 of node NAME (waits for it)
#   node_wait_health NAME [S]     /health of node NAME answers on its 10.213.0.X:8642
#   time_over START SECS          more than SECS since START (date +%s.%N)
#   topo NAME                     GET /v1/topology of node NAME
#   complete_on NAME JSON         the choice's text of a completion sent to node NAME
#   netns_teardown                what the trap runs; netns_leftovers lists what would remain

NS_PREFIX="sht$$"
NS_SW="$NS_PREFIX-sw"
NS_NET=10.213.0
declare -A PIDS=() LOGS=() HOSTS=()
TMPD=$(mktemp -d "/tmp/$NS_PREFIX.XXXXXX")

# on stderr, so that a failure inside $(...) is seen too
fail() {
	{
		echo "FAIL: $*"
		local n
		for n in "${!LOGS[@]}"; do
			echo "--- node $n (namespace $NS_PREFIX-h${HOSTS[$n]:-?}, ${LOGS[$n]})"
			# a sanitizer's report from its start (its tail is only the shadow map), else the last lines
			grep -m1 -A30 'ERROR: .*Sanitizer' "${LOGS[$n]}" 2>/dev/null || tail -25 "${LOGS[$n]}" 2>/dev/null
		done
	} >&2
	exit 1
}

netns_require() {
	if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1 ||
		! unshare --net true 2>/dev/null; then
		echo "SKIP: needs root and ip netns"
		rm -rf "$TMPD"
		exit 77
	fi
}

# namespaces of this test (prefix given) or of every test run (default)
netns_list() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${1:-sht[0-9]+-}" || true; }

netns_kill_inside() {
	local ns=$1 p
	for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
}

netns_delete() {
	local ns=$1 k
	netns_kill_inside "$ns"
	for k in 1 2 3 4 5; do
		ip netns del "$ns" 2>/dev/null
		[ -e "/run/netns/$ns" ] || return 0
		sleep 0.2
		netns_kill_inside "$ns"
	done
	echo "warning: cannot delete namespace $ns" >&2
}

# a test process is still running: sht<pid>-* belongs to it
netns_owner_alive() {
	local pid=$1
	[ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'bash.*\.sh'
}

# leftovers of earlier runs that died without their trap (kill -9): namespaces (with whatever
# still runs inside them) and temporary directories, only those whose test process is gone
netns_reap_stale() {
	local ns pid d
	for ns in $(netns_list); do
		pid=${ns#sht}
		pid=${pid%%-*}
		[ "$pid" = $$ ] && continue
		netns_owner_alive "$pid" && continue
		echo "removing leftover namespace $ns"
		netns_delete "$ns"
	done
	for d in /tmp/sht[0-9]*.??????; do
		[ -d "$d" ] || continue
		pid=${d#/tmp/sht}
		pid=${pid%%.*}
		[ "$pid" = $$ ] && continue
		netns_owner_alive "$pid" && continue
		rm -rf "$d"
	done
}

netns_leftovers() { netns_list "$NS_PREFIX-"; }

netns_teardown() {
	local n ns
	set +e
	{
		for n in "${!PIDS[@]}"; do [ -n "${PIDS[$n]}" ] && kill -9 "${PIDS[$n]}"; done
		wait
	} 2>/dev/null
	for ns in $(netns_leftovers); do netns_delete "$ns"; done
	rm -rf "$TMPD"
}
trap netns_teardown EXIT
trap "exit 1" INT TERM HUP PIPE
# a command that fails outside fail() (set -e) says which, so a failure is never only the last log lines
trap 'rc=$?; echo "FAIL: ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND exited $rc" >&2' ERR

netns_ip() { echo "$NS_NET.$((10 + $1))"; }

netns_setup() {
	local h=$1 i k ns
	netns_reap_stale
	ip netns add "$NS_SW" || fail "ip netns add $NS_SW"
	ip -n "$NS_SW" link set lo up
	ip -n "$NS_SW" link add "${NS_PREFIX}br" type bridge || fail "no bridge in $NS_SW"
	ip -n "$NS_SW" addr add "$NS_NET.2/24" brd "$NS_NET.255" dev "${NS_PREFIX}br"
	ip -n "$NS_SW" link set "${NS_PREFIX}br" up
	for i in $(seq 1 "$h"); do netns_host_create "$i"; done
	# the bridge forwards once its ports are up (no STP): wait until every host answers
	for i in $(seq 1 "$h"); do netns_host_wait "$i"; done
}

netns_host_create() {
	local i=$1 ns="$NS_PREFIX-h$1" dev=eth0
	[ "$i" = 3 ] && dev=veth0
	ip netns add "$ns" || fail "ip netns add $ns"
	ip -n "$ns" link set lo up
	ip -n "$NS_SW" link add "${NS_PREFIX}h$i" type veth peer name "$dev" netns "$ns" ||
		fail "veth of $ns"
	ip -n "$NS_SW" link set "${NS_PREFIX}h$i" master "${NS_PREFIX}br"
	ip -n "$NS_SW" link set "${NS_PREFIX}h$i" up
	ip -n "$ns" addr add "$(netns_ip "$i")/24" brd "$NS_NET.255" dev "$dev"
	ip -n "$ns" link set "$dev" up
}

netns_host_wait() {
	local k
	for k in $(seq 1 50); do
		netns_reach "$NS_SW" "$(netns_ip "$1")" && return 0
		sleep 0.1
	done
	fail "host $1 ($(netns_ip "$1")) is not reachable from $NS_SW"
}

netns_host_add() { netns_host_create "$1"; netns_host_wait "$1"; }

# NS reaches IP: a TCP connection to a closed port is refused (ping may not be installed)
netns_reach() {
	local out
	out=$(timeout 2 ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/9" 2>&1) || true
	[[ $out == *"Connection refused"* ]]
}

ns_exec() { local i=$1; shift; ip netns exec "$NS_PREFIX-h$i" "$@"; }

nscurl() { ip netns exec "$NS_SW" curl -s --max-time 20 "$@"; }

node_start_ns() {
	local i=$1 name=$2 state=$3; shift 3
	mkdir -p "$state"
	LOGS[$name]="$TMPD/$name.log"
	HOSTS[$name]=$i
	ip netns exec "$NS_PREFIX-h$i" env XDG_STATE_HOME="$state" "$SHOAL" run "$@" >"${LOGS[$name]}" 2>&1 &
	PIDS[$name]=$!
}

node_stop() {
	local name=$1
	[ -n "${PIDS[$name]:-}" ] || return 0
	kill -9 "${PIDS[$name]}" 2>/dev/null || true
	wait "${PIDS[$name]}" 2>/dev/null || true
	PIDS[$name]=""
}

node_alive() { [ -n "${PIDS[$1]:-}" ] && kill -0 "${PIDS[$1]}" 2>/dev/null; }

node_url() { echo "http://$(netns_ip "${HOSTS[$1]}"):8642"; }

# the time since START (date +%s.%N) is over SECS
time_over() { [ "$(echo "$(date +%s.%N) - $1 > $2" | bc)" = 1 ]; }

node_wait_health() {
	local name=$1 secs=${2:-15} t
	t=$(date +%s.%N)
	while ! nscurl -f -o /dev/null "$(node_url "$name")/health" 2>/dev/null; do
		node_alive "$name" || fail "node $name died"
		time_over "$t" "$secs" && fail "node $name: no /health on $(node_url "$name") in ${secs}s"
		sleep 0.1
	done
}

topo() { nscurl -f "$(node_url "$1")/v1/topology"; }

complete_on() {
	local name=$1 out
	out=$(nscurl -f "$(node_url "$name")/v1/completions" -H 'Content-Type: application/json' -d "$2") ||
		fail "completion on node $name failed: $(nscurl "$(node_url "$name")/v1/completions" -H 'Content-Type: application/json' -d "$2")"
	jq -er '.choices[0].text' <<<"$out" || fail "node $name: no text in $out"
}
