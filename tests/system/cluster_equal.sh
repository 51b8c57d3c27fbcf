#!/usr/bin/env bash
# Clusters of 1, 2, 3 and 4 `shoal run` nodes on loopback (stories260K, 5 layers) answer exactly
# what one node answers, for a greedy and a seeded-sampling completion and a streamed chat sent
# to every node of the cluster, and for follow-up prompts that reuse a slot's cached prefix (the
# shards keep an ended request's state); /v1/topology of every node shows contiguous ranges
# covering all layers, every node's capabilities and every link's bandwidth, a reply names the
# nodes that computed it, and every node's tokens per second reaches the others. With --wire f16 the
# cluster still answers (values differ slightly, so no equality).
set -euo pipefail
. "$(dirname "$0")/lib/cluster.sh"
M="$STORIES"

GREEDY='{"prompt":"Once upon a time","max_tokens":48,"temperature":0}'
SEEDED='{"prompt":"The little dog","max_tokens":48,"temperature":0.9,"top_p":0.95,"seed":1234}'
CHAT='{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":32,"temperature":0.7,"seed":7,"stream":true}'
cached() { curl -sf "http://127.0.0.1:$1/metrics" | awk '/^shoal_prompt_tokens_cached_total/ {print $2}'; }
chat_text() { curl -sfN "http://127.0.0.1:$1/v1/chat/completions" -H 'Content-Type: application/json' -d "$CHAT" |
	sed -n 's/^data: //p' | grep -v '^\[DONE\]' | jq -j '.choices[0].delta.content // empty'; }

# the reference: one node without a cluster
"$SHOAL" run -m "$M" --port 0 -t 1 --no-discovery >"$TMPD/single.log" 2>&1 &
PIDS+=($!)
for k in $(seq 1 100); do
	P1=$(grep -so 'http://[^ ]*:[0-9]*/v1' "$TMPD/single.log" | head -1 | sed -E 's/.*:([0-9]+)\/v1/\1/') && [ -n "$P1" ] && break
	sleep 0.05
done
want_g=$(complete "$P1" "$GREEDY")
want_s=$(complete "$P1" "$SEEDED")
want_c=$(chat_text "$P1")
FOLLOW=$(jq -nc --arg p "Once upon a time$want_g Then" '{prompt: $p, max_tokens: 24, temperature: 0}')
want_f=$(complete "$P1" "$FOLLOW")
[ -n "$want_g" ] && [ -n "$want_s" ] && [ -n "$want_c" ] && [ -n "$want_f" ] || fail "empty reference"
kill -9 "${PIDS[0]}"
wait 2>/dev/null || true
PIDS=()

for n in 1 2 3 4; do
	cluster_start "$n" "-m $M"
	cluster_wait_plan "$n"
	# ranges: contiguous from 0 to 5, one per node, every node sees the same
	t=$(topology "${API_PORTS[0]}")
	ranges=$(jq -c '[.nodes[] | .layers] | sort' <<<"$t")
	[ "$(jq 'map(.[1] - .[0]) | add' <<<"$ranges")" = 5 ] || fail "$n nodes: ranges $ranges do not cover 5 layers"
	jq -e '[.links[] | select(.state == "up")] | length == '$((n - 1)) <<<"$t" >/dev/null || fail "links: $t"
	# every node's capabilities travel in HELLO; links get a bandwidth from a padded PING
	jq -e '[.nodes[] | select((.cpu | length) > 0 and .cores > 0 and .mem_bandwidth_gbs > 0 and .matmul_gflops > 0 and
		.memory.total >= .memory.available and (.os | length) > 0)] | length == '"$n" <<<"$t" >/dev/null ||
		fail "capabilities: $t"
	for k in $(seq 1 80); do
		topology "${API_PORTS[0]}" | jq -e '[.links[] | select(.bandwidth_mbps > 0)] | length == '$((n - 1)) >/dev/null &&
			break
		[ "$k" = 80 ] && fail "no link bandwidth after 8 s: $(topology "${API_PORTS[0]}" | jq -c .links)"
		sleep 0.1
	done
	for i in $(seq 0 $((n - 1))); do
		[ "$(topology "${API_PORTS[$i]}" | jq -c '[.nodes[] | .layers] | sort')" = "$ranges" ] ||
			fail "node $i sees other ranges"
		got=$(complete "${API_PORTS[$i]}" "$GREEDY")
		[ "$got" = "$want_g" ] || fail "$n nodes, node $i, greedy: '$got' != '$want_g'"
		got=$(complete "${API_PORTS[$i]}" "$SEEDED")
		[ "$got" = "$want_s" ] || fail "$n nodes, node $i, seeded: '$got' != '$want_s'"
	done
	got=$(chat_text "${API_PORTS[$((n - 1))]}")
	[ "$got" = "$want_c" ] || fail "$n nodes: streamed chat '$got' != '$want_c'"
	# prefix reuse: the same prompt again, then a follow-up, continue from the slot's cached tokens
	c0=$(cached "${API_PORTS[0]}")
	got=$(complete "${API_PORTS[0]}" "$GREEDY")
	[ "$got" = "$want_g" ] || fail "$n nodes: repeated greedy '$got' != '$want_g'"
	got=$(complete "${API_PORTS[0]}" "$FOLLOW")
	[ "$got" = "$want_f" ] || fail "$n nodes: follow-up '$got' != '$want_f'"
	c1=$(cached "${API_PORTS[0]}")
	[ $((c1 - c0)) -ge 20 ] || fail "$n nodes: the repeated and follow-up prompts reused only $((c1 - c0)) cached tokens"
	# a reply names the nodes that computed it (their ranges); each node reports its tokens per second
	r=$(curl -sf "http://127.0.0.1:${API_PORTS[0]}/v1/completions" -H 'Content-Type: application/json' -d "$GREEDY")
	[ "$(jq -c '[.shoal.nodes[] | .layers] | sort' <<<"$r")" = "$ranges" ] || fail "$n nodes: shoal.nodes $(jq -c .shoal <<<"$r")"
	for k in $(seq 1 20); do
		topology "${API_PORTS[$((n - 1))]}" | jq -e '[.nodes[] | select(.tokens_per_s > 0)] | length == '"$n" >/dev/null && break
		[ "$k" = 20 ] && fail "$n nodes: tokens_per_s $(topology "${API_PORTS[$((n - 1))]}" | jq -c '[.nodes[].tokens_per_s]')"
		sleep 0.05
	done
	echo "$n nodes: $ranges identical to one node"
	cluster_stop
done

cluster_start 2 "-m $M --wire f16"
cluster_wait_plan 2
got=$(complete "${API_PORTS[1]}" "$GREEDY")
[ -n "$got" ] || fail "f16 wire: empty answer"
echo "f16 wire: '$got'"
