# Helpers of the cluster system tests (sourced, not run): start `shoal run` nodes on loopback with
# free ports picked at random (a whole cluster is restarted on other ports if one cannot bind),
# wait for them to agree on a plan, read /v1/topology, send completions. Every process started is
# killed by the EXIT trap.
#   cluster_start N "common args" ["args of node 1" "args of node 2" ...]
#     starts N nodes that all list each other in --peers; sets NODE_PORTS[i], API_PORTS[i], PIDS[i],
#     LOGS[i] (i from 0)
#   cluster_stop                          kills and reaps every node started
#   cluster_wait_plan N_ALIVE [TIMEOUT]   every running node sees N_ALIVE nodes with layers, one epoch
#   complete PORT JSON                    the choice's text of a completion (fails on an error)
# Several nodes share the 2 cores: each runs with -t 1.

: "${SHOAL:=build/shoal}" "${STORIES:=models/stories260K.gguf}" "${TESTDATA:=tests/data}"
PIDS=() NODE_PORTS=() API_PORTS=() LOGS=()
TMPD=$(mktemp -d)
# kills every node started and reaps it quietly (their status is not this script's)
cluster_stop() {
	local p
	for p in "${PIDS[@]}"; do [ -n "$p" ] && kill -9 "$p" || true; done
	wait || true
	PIDS=()
} 2>/dev/null
cleanup() {
	cluster_stop
	rm -rf "$TMPD"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE
# a command that fails outside fail() (set -e) says which, so a failure is never only the last log lines
trap 'rc=$?; echo "FAIL: ${BASH_SOURCE[0]}:$LINENO: $BASH_COMMAND exited $rc" >&2' ERR

fail() { echo "FAIL: $*"; for l in "${LOGS[@]}"; do echo "--- $l"; tail -15 "$l"; done; exit 1; }

port_free() { ! ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

random_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		port_free "$p" && { echo "$p"; return; }
	done
}

# starts node i (NODE_PORTS must be set); args: i, extra args
node_start() {
	local i=$1; shift
	local peers="" j
	for j in "${!NODE_PORTS[@]}"; do
		[ "$j" = "$i" ] && continue
		peers="${peers:+$peers,}127.0.0.1:${NODE_PORTS[$j]}"
	done
	LOGS[$i]="$TMPD/node$i.$RANDOM.log"
	# shellcheck disable=SC2086
	"$SHOAL" run --port 0 -t 1 --no-discovery --node-port "${NODE_PORTS[$i]}" ${peers:+--peers "$peers"} "$@" >"${LOGS[$i]}" 2>&1 &
	PIDS[$i]=$!
}

# waits for node i's "serving" line; 0 ok, 1 it died (e.g. the node port was taken)
node_wait_api() {
	local i=$1 k
	for k in $(seq 1 200); do
		API_PORTS[$i]=$(grep -o 'http://[^ ]*:[0-9]*/v1' "${LOGS[$i]}" | head -1 | sed -E 's/.*:([0-9]+)\/v1/\1/')
		[ -n "${API_PORTS[$i]}" ] && return 0
		kill -0 "${PIDS[$i]}" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

cluster_start() {
	local n=$1 common=$2; shift 2
	local extra=("$@") attempt i ok
	for attempt in 1 2 3; do
		NODE_PORTS=() PIDS=() API_PORTS=()
		for i in $(seq 0 $((n - 1))); do NODE_PORTS[$i]=$(random_port); done
		for i in $(seq 0 $((n - 1))); do
			# shellcheck disable=SC2086
			node_start "$i" $common ${extra[$i]:-}
		done
		ok=1
		for i in $(seq 0 $((n - 1))); do node_wait_api "$i" || ok=0; done
		[ $ok = 1 ] && return 0
		cluster_stop
	done
	fail "cannot start $n nodes"
}

topology() { curl -sf "http://127.0.0.1:$1/v1/topology"; }

# every running node sees want nodes alive with layers under one epoch
cluster_wait_plan() {
	local want=$1 timeout=${2:-15} k i t epochs
	for k in $(seq 1 $((timeout * 10))); do
		epochs=""
		ok=1
		for i in "${!PIDS[@]}"; do
			kill -0 "${PIDS[$i]}" 2>/dev/null || continue
			t=$(topology "${API_PORTS[$i]}") || { ok=0; break; }
			[ "$(jq '[.nodes[] | select(.state != "dead" and .layers != null)] | length' <<<"$t")" = "$want" ] || { ok=0; break; }
			[ "$(jq '.plan.epoch != 0 and (.plan.pending | not)' <<<"$t")" = true ] || { ok=0; break; }
			epochs="$epochs $(jq .plan.epoch <<<"$t")"
		done
		if [ $ok = 1 ] && [ "$(tr ' ' '\n' <<<"$epochs" | sed '/^$/d' | sort -u | wc -l)" = 1 ]; then
			return 0
		fi
		sleep 0.1
	done
	fail "the nodes did not agree on a plan of $want nodes in ${timeout}s"
}

complete() {
	local out
	out=$(curl -sf "http://127.0.0.1:$1/v1/completions" -H 'Content-Type: application/json' -d "$2") ||
		fail "completion on port $1 failed: $(curl -s "http://127.0.0.1:$1/v1/completions" -d "$2")"
	jq -er '.choices[0].text' <<<"$out" || fail "no text: $out"
}
