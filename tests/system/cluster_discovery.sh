#!/usr/bin/env bash
# Zero-configuration discovery on a LAN made of network namespaces (lib/netns.sh: a bridge and 5
# hosts, eth0 = 10.213.0.11..15/24; host 3's is named veth0). Every node is
# `shoal run -m MODEL -t 1` and nothing else (default ports 8642/8643, beacons on that interface),
# each with its own XDG_STATE_HOME:
#   1. three nodes on hosts 1-3 form one cluster: each one's /v1/topology lists 3 live nodes whose
#      ranges cover every layer, under one settled plan epoch, within 15 s;
#   2. a greedy completion sent to each of them equals the one of a node alone (--no-discovery);
#   3. a node with --cluster-key other-secret (host 4) stays out: 5 s later the three still list
#      exactly themselves under the same epoch, and it lists only itself;
#   4. a node whose state dir is a `cp -a` of host 1's (its persisted id file included) joins as a
#      fourth, distinct node: every node agrees on a plan over 4 live nodes, host 1 lists 4 distinct
#      ids and keeps its own, the copy persisted a new id; it answers the same text;
#   5. kill -9 of one node: within ~4 s the survivors show it dead or gone and have re-planned over
#      themselves (all layers covered), and each answers the same text;
#   6. --peers mixes with discovery: a node on host 2 with --no-discovery (it sends no beacons)
#      and --peers naming host 1 only joins all of them, and answers the same text;
#   7. nothing is left: no namespace of the test, no interface of it in the root namespace.
# Needs root and `ip netns` (else SKIP). All traffic stays on 10.213.0.0/24 inside the namespaces.
set -euo pipefail
[ -z "${SHOAL:-}" ] || SHOAL=$(realpath "$SHOAL") # run.sh sets it relative to the repository
cd "$(dirname "$0")/../.."
: "${SHOAL:=$PWD/build/shoal}" "${STORIES:=$PWD/models/stories260K.gguf}"
. tests/system/lib/netns.sh
netns_require

M="$STORIES" # 5 layers: one or two per node for up to 5 nodes
SLOW=1
[ -n "${SAN:-}" ] && SLOW=3
GREEDY='{"prompt":"Once upon a time","max_tokens":40,"temperature":0,"ignore_eos":true}'
ST="$TMPD/state"
T0=$(date +%s.%N)
elapsed() { echo "$(date +%s.%N) - $1" | bc | sed -E 's/^\./0./; s/(\.[0-9]{1,2}).*/\1/'; }

# one node's view against "want live nodes, all holding layers that cover [0, n_layers), one
# settled plan": prints "ok EPOCH RANGES" or what is wrong
CHECK_JQ='
def live: [.nodes[] | select(.state == "self" or .state == "alive")];
def ranges: [.nodes[] | select(.layers != null) | .layers] | sort_by(.[0]);
def covers($n): ranges as $r | ($r | length) > 0 and $r[0][0] == 0 and $r[-1][1] == $n and
	([range(1; $r | length) | select($r[.][0] != $r[. - 1][1])] | length == 0);
if (live | length) != $want then "\(live | length) live nodes, want \($want): \([.nodes[] | [.id, .address, .state]])"
elif ([.nodes[] | select(.state == "self")] | length) != 1 then "not exactly one node is self"
elif (.plan.epoch // 0) == 0 or (.plan.pending // false) then "no settled plan (epoch \(.plan.epoch), pending \(.plan.pending))"
elif .plan.error then "plan error: \(.plan.error)"
elif ([live[] | select(.layers == null)] | length) > 0 then "a live node holds no layers"
elif ([.nodes[] | select(.layers != null and .state != "self" and .state != "alive")] | length) > 0 then "a dead node holds layers"
elif (covers(.plan.n_layers) | not) then "ranges \(ranges) do not cover [0, \(.plan.n_layers))"
else "ok \(.plan.epoch) \(ranges | tojson)" end'

view_of() { # name want -> "ok EPOCH RANGES" or the problem
	local t
	t=$(topo "$1") || { echo "no topology"; return; }
	jq -r --argjson want "$2" "$CHECK_JQ" <<<"$t" 2>&1 || echo "bad topology: $t"
}

# every named node sees want live nodes and they all agree (epoch and ranges); sets VIEW
wait_cluster() { # want timeout names...
	local want=$1 timeout=$(($2 * SLOW)) t n v views why
	shift 2
	t=$(date +%s.%N)
	while ! time_over "$t" "$timeout"; do
		views="" why=""
		for n in "$@"; do
			node_alive "$n" || fail "node $n died"
			v=$(view_of "$n" "$want")
			[ "${v%% *}" = ok ] || { why="node $n: $v"; break; }
			views="$views${v#ok }"$'\n'
		done
		if [ -z "$why" ]; then
			[ "$(sed '/^$/d' <<<"$views" | sort -u | wc -l)" = 1 ] && { VIEW=$(head -1 <<<"$views"); return 0; }
			why="the nodes disagree: $views"
		fi
		sleep 0.1
	done
	fail "no agreed plan of $want nodes within $timeout s: $why"
}

self_id() { topo "$1" | jq -r '.nodes[] | select(.state == "self") | .id'; }

# ---------------------------------------------------------------- the LAN
netns_setup 5
netns_reach "$NS_PREFIX-h1" "$(netns_ip 3)" && netns_reach "$NS_PREFIX-h3" "$(netns_ip 5)" ||
	fail "hosts do not reach each other"
echo "ok - LAN: bridge in $NS_SW, hosts $(netns_ip 1)..$(netns_ip 5) on eth0 (host 3: veth0) (setup $(elapsed "$T0") s)"

# ---------------------------------------------------------------- the reference: one node alone
node_start_ns 4 ref "$ST/ref" -m "$M" -t 1 --no-discovery
node_wait_health ref 15
WANT=$(complete_on ref "$GREEDY")
[ -n "$WANT" ] || fail "empty reference"
[ "$(topo ref | jq '.nodes | length')" = 1 ] || fail "the --no-discovery node lists others: $(topo ref)"
node_stop ref
echo "ok - reference from one node alone (--no-discovery): '${WANT:0:40}...'"

# ---------------------------------------------------------------- 1. three nodes, no flags
t=$(date +%s.%N)
for i in 1 2 3; do node_start_ns "$i" "n$i" "$ST/h$i" -m "$M" -t 1; done
wait_cluster 3 15 n1 n2 n3
EPOCH=${VIEW%% *}
echo "ok - 3 nodes started without flags formed one cluster in $(elapsed "$t") s: epoch $EPOCH, ranges ${VIEW#* }"
for n in n1 n2 n3; do
	bad=$(topo "$n" | jq -r '[.nodes[] | select(.state == "alive") | .address | select(startswith("10.213.0.") | not)] | join(" ")')
	[ -z "$bad" ] || fail "node $n reaches peers at $bad, not on the LAN"
done

# ---------------------------------------------------------------- 2. same text as one node
for n in n1 n2 n3; do
	got=$(complete_on "$n" "$GREEDY")
	[ "$got" = "$WANT" ] || fail "node $n answered '$got', one node alone '$WANT'"
done
echo "ok - a greedy completion on each of the 3 hosts equals one node's"

# ---------------------------------------------------------------- 3. another cluster key stays out
node_start_ns 4 key "$ST/h4" -m "$M" -t 1 --cluster-key other-secret
node_wait_health key 15
sleep 5
for n in n1 n2 n3; do
	t=$(topo "$n")
	[ "$(jq '.nodes | length' <<<"$t")" = 3 ] || fail "node $n lists $(jq -c '[.nodes[] | [.id, .address, .state]]' <<<"$t")"
	v=$(view_of "$n" 3)
	[ "$v" = "ok $VIEW" ] || fail "node $n changed its plan with the keyed node about: $v (was $VIEW)"
done
t=$(topo key)
[ "$(jq '[.nodes[] | select(.state != "dead")] | length' <<<"$t")" = 1 ] &&
	[ "$(jq -r '.nodes[0].state' <<<"$t")" = self ] || fail "the node of another key sees $(jq -c .nodes <<<"$t")"
node_stop key
echo "ok - a node with another --cluster-key stayed out for 5 s (3 nodes, epoch $EPOCH unchanged; it lists only itself)"

# ---------------------------------------------------------------- 4. a copied state dir
ids=$(find "$ST/h1/shoal" -type f -name '*id*' 2>/dev/null | sed "s|$ST/h1/||" | tr '\n' ' ' | sed 's/ $//')
[ -n "$ids" ] || fail "no id file under host 1's \$XDG_STATE_HOME/shoal: $(find "$ST/h1" 2>/dev/null | tr '\n' ' ')"
id1=$(self_id n1)
[ -n "$id1" ] && grep -rqi "$id1" "$ST/h1/shoal" || fail "host 1's id $id1 is in none of its state files ($ids)"
cp -a "$ST/h1" "$ST/copy"
t=$(date +%s.%N)
node_start_ns 5 copy "$ST/copy" -m "$M" -t 1
wait_cluster 4 15 n1 n2 n3 copy
tj=$(topo n1)
[ "$(jq '[.nodes[] | select(.state == "self" or .state == "alive") | .id] | unique | length' <<<"$tj")" = 4 ] ||
	fail "host 1 does not list 4 distinct live ids: $(jq -c '[.nodes[] | [.id, .address, .state]]' <<<"$tj")"
idc=$(self_id copy)
[ -n "$idc" ] && [ "$id1" != "$idc" ] || fail "host 1 and the copy share id '$id1'"
[ "$(self_id n1)" = "$id1" ] || fail "host 1 changed its id from $id1 to $(self_id n1)"
grep -rqi "$idc" "$ST/copy/shoal" || fail "the copy did not persist its new id $idc in its state dir"
got=$(complete_on copy "$GREEDY")
[ "$got" = "$WANT" ] || fail "4 nodes, the copy answered '$got', one node alone '$WANT'"
echo "ok - a node on a cp -a of host 1's state ($ids) joined as a distinct 4th node in $(elapsed "$t") s: ids $(jq -c '[.nodes[].id]' <<<"$tj"), ranges ${VIEW#* }"

# ---------------------------------------------------------------- 5. kill -9 of one node
dead=$(self_id n2)
t=$(date +%s.%N)
node_stop n2
limit=$((4 * SLOW))
while :; do
	gone=1
	for n in n1 n3 copy; do
		s=$(topo "$n" | jq -r --arg id "$dead" '[.nodes[] | select(.id == $id) | .state][0] // "gone"')
		[ "$s" = dead ] || [ "$s" = gone ] || { gone=0; break; }
	done
	[ $gone = 1 ] && break
	time_over "$t" "$limit" && fail "$limit s after kill -9, node $n still shows host 2 ($dead) as $s"
	sleep 0.1
done
t_dead=$(elapsed "$t")
wait_cluster 3 4 n1 n3 copy
t_plan=$(elapsed "$t")
[ "$(echo "$t_plan <= $limit + 0.5" | bc)" = 1 ] || fail "re-planned only $t_plan s after the kill"
for n in n1 n3 copy; do
	got=$(complete_on "$n" "$GREEDY")
	[ "$got" = "$WANT" ] || fail "after the kill, node $n answered '$got', one node alone '$WANT'"
done
echo "ok - kill -9 of host 2: dead or gone everywhere after $t_dead s, re-planned over the 3 survivors after $t_plan s (ranges ${VIEW#* }), same text on each"

# ---------------------------------------------------------------- 6. --peers with discovery
t=$(date +%s.%N)
node_start_ns 2 peer "$ST/h2" -m "$M" -t 1 --no-discovery --peers "$(netns_ip 1):8643"
wait_cluster 4 15 n1 n3 copy peer
got=$(complete_on peer "$GREEDY")
[ "$got" = "$WANT" ] || fail "the --peers node answered '$got', one node alone '$WANT'"
echo "ok - a node with --no-discovery --peers $(netns_ip 1):8643 joined the discovered 3 in $(elapsed "$t") s (ranges ${VIEW#* }), same text"

# ---------------------------------------------------------------- 7. nothing left behind
netns_teardown
left=$(netns_leftovers)
[ -z "$left" ] || fail "namespaces left: $left"
! ip -o link show | grep -q "$NS_PREFIX" || fail "interfaces of the test in the root namespace: $(ip -o link show | grep "$NS_PREFIX")"
for n in "${!PIDS[@]}"; do ! node_alive "$n" || fail "node $n still runs"; done
[ ! -e "$TMPD" ] || fail "$TMPD left"
echo "ok - cleanup: no namespace, interface, process or file of $NS_PREFIX left ($(elapsed "$T0") s in all)"
exit 0
