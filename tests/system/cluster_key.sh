#!/usr/bin/env bash
# --cluster-key: two nodes with one key form a cluster (CURVE on every link) and answer as one
# node does; a third node with another key, listing them as peers (and listed by them), is
# refused: it never appears in their topology, never gets layers of their plan, and nothing it
# sends is acted on (it stays alone). A node without a key cannot join either.
set -euo pipefail
. "$(dirname "$0")/lib/cluster.sh"
M="$STORIES"
GREEDY='{"prompt":"Once upon a time","max_tokens":32,"temperature":0}'

cluster_start 4 "-m $M" "--cluster-key right-key-1234" "--cluster-key right-key-1234" "--cluster-key wrong-key-5678" ""
cluster_wait_plan_of() { # node indexes..., want
	local want=$1; shift
	local saved=("${PIDS[@]}") i
	for i in "${!PIDS[@]}"; do
		case " $* " in *" $i "*) ;; *) PIDS[$i]=999999999 ;; esac
	done
	cluster_wait_plan "$want"
	PIDS=("${saved[@]}")
}
cluster_wait_plan_of 2 0 1
sleep 1 # the intruders keep trying meanwhile
for i in 0 1; do
	t=$(topology "${API_PORTS[$i]}")
	[ "$(jq '.nodes | length' <<<"$t")" = 2 ] || fail "node $i lists $(jq -c '[.nodes[].id]' <<<"$t")"
	jq -e '.links | all(.state == "up")' <<<"$t" >/dev/null || fail "node $i links: $t"
done
for i in 2 3; do
	t=$(topology "${API_PORTS[$i]}")
	[ "$(jq '.nodes | length' <<<"$t")" = 1 ] || fail "intruder $i sees $(jq -c '.nodes' <<<"$t")"
done
got=$(complete "${API_PORTS[0]}" "$GREEDY")
[ "$(complete "${API_PORTS[1]}" "$GREEDY")" = "$got" ] || fail "the keyed nodes disagree"
# the keyed nodes never decoded a frame of the intruders (CURVE refused them before)
for i in 0 1; do
	! grep -q "dropped" "${LOGS[$i]}" || fail "node $i acted on (decoded) a frame: $(grep dropped "${LOGS[$i]}")"
done
grep -q "CURVE" "${LOGS[0]}" || fail "node 0 does not use CURVE"
echo "refused: $(topology "${API_PORTS[0]}" | jq -c '[.nodes[] | [.state, .layers]]')"
