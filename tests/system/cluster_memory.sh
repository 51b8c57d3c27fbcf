#!/usr/bin/env bash
# Memory: on a synthesized qwen2.5-0.5b Q4_0 (24 layers, tied 136 MB head), three nodes with
# --memory-limit 400M:800M:400M get layer counts near 6:12:6; after a request, each node's
# resident model pages (RssFile of /proc/PID/status: the mmapped file) stay within what the
# plan gave it (plus the vocabulary's metadata), far below one node holding everything, and
# together they cover the model. Two nodes too small for the model: completions answer 503 with
# a message naming the bytes needed and available. Then a tinyllama-1.1b Q4_0 on nodes of 1/3, 2/3
# and 1/3 of the file, default context and slots: it plans and serves with the f16 KV cache, not
# with f32.
set -euo pipefail
. "$(dirname "$0")/lib/cluster.sh"
MODELS="$(cd "$(dirname "$0")/../.." && pwd)/build/test-models"
M="$MODELS/qwen2.5-0.5b-q4_0.gguf"
if [ ! -s "$M" ]; then
	mkdir -p "$MODELS"
	"$SHOAL" synth --preset qwen2.5-0.5b --type q4_0 --vocab "$TESTDATA/vocab/ggml-vocab-qwen2.gguf" \
		-o "$M.tmp" >/dev/null 2>&1 && mv "$M.tmp" "$M"
fi
REQ='{"prompt":"Hello world","max_tokens":3,"temperature":0}'
rss_file() { awk '/^RssFile:/ { print $2 * 1024 }' "/proc/$1/status"; }

# one node: the whole file resident after a request
"$SHOAL" run -m "$M" --port 0 -t 1 --no-discovery -c 512 --parallel 1 >"$TMPD/single.log" 2>&1 &
PIDS+=($!)
for k in $(seq 1 200); do
	P1=$(grep -so 'http://[^ ]*:[0-9]*/v1' "$TMPD/single.log" | head -1 | sed -E 's/.*:([0-9]+)\/v1/\1/') && [ -n "$P1" ] && break
	sleep 0.05
done
complete "$P1" "$REQ" >/dev/null
single=$(rss_file "${PIDS[0]}")
kill -9 "${PIDS[0]}"
wait 2>/dev/null || true
PIDS=()

cluster_start 3 "-m $M -c 512 --parallel 1" "--memory-limit 400M" "--memory-limit 800M" "--memory-limit 400M"
cluster_wait_plan 3 20
complete "${API_PORTS[0]}" "$REQ" >/dev/null
t=$(topology "${API_PORTS[0]}")
sum=0
for i in 0 1 2; do
	usable=$(jq ".nodes[] | select(.api == ${API_PORTS[$i]}) | .memory.usable" <<<"$t")
	n=$(jq ".nodes[] | select(.api == ${API_PORTS[$i]}) | .layers[1] - .layers[0]" <<<"$t")
	planned=$(jq ".nodes[] | select(.api == ${API_PORTS[$i]}) | .memory.planned" <<<"$t")
	rss=$(rss_file "${PIDS[$i]}")
	sum=$((sum + rss))
	echo "node $i: usable $((usable >> 20)) MiB, $n layers, planned $((planned >> 20)) MiB, model pages resident $((rss >> 20)) MiB (one node: $((single >> 20)) MiB)"
	want=$([ "$usable" -gt 500000000 ] && echo 12 || echo 6)
	[ $((n - want)) -le 1 ] && [ $((want - n)) -le 1 ] || fail "node $i has $n layers, want about $want"
	[ "$rss" -le $((planned + (32 << 20))) ] || fail "node $i: $rss resident bytes, more than its plan's $planned"
	# node order follows the random node ids: the 12-layer node may also be the last shard, whose
	# head matmul reads the whole 136 MB tied matrix (a first shard touches only the embedding rows it uses)
	[ "$rss" -le $((single * 85 / 100)) ] || fail "node $i: $rss resident bytes, near one node's $single"
done
[ "$sum" -ge $((single * 9 / 10)) ] || fail "the nodes hold $sum bytes together, less than the model's $single"

cluster_stop
# once N nodes have met, a completion answers 503 naming the bytes needed and available
expect_no_fit() { # N what
	for k in $(seq 1 100); do
		topology "${API_PORTS[0]}" | jq -e ".nodes | length == $1" >/dev/null && break
		sleep 0.1
	done
	code=$(curl -s -o "$TMPD/err.json" -w '%{http_code}' "http://127.0.0.1:${API_PORTS[0]}/v1/completions" -d "$REQ")
	[ "$code" = 503 ] || fail "$2: HTTP $code $(cat "$TMPD/err.json")"
	msg=$(jq -r .error.message "$TMPD/err.json")
	echo "$2: $msg"
	grep -q "needs [0-9]* bytes" <<<"$msg" && grep -q "has [0-9]* bytes" <<<"$msg" ||
		fail "the message does not name needed and available bytes"
}

cluster_start 2 "-m $M -c 512 --parallel 1 --memory-limit 100M"
expect_no_fit 2 "does not fit"

# issue 15's case: a tinyllama-1.1b Q4_0 (22 layers, 607 MB) on three nodes whose limits, 1:2:1,
# add up to 1.33x the file, with the default context and slots: it plans and serves with the
# default f16 KV cache; an f32 cache, twice the bytes, does not fit
cluster_stop
T="$MODELS/tinyllama-1.1b-q4_0.gguf"
if [ ! -s "$T" ]; then
	"$SHOAL" synth --preset tinyllama-1.1b --type q4_0 --vocab "$TESTDATA/vocab/ggml-vocab-llama-spm.gguf" \
		-o "$T.tmp" >/dev/null 2>&1 && mv "$T.tmp" "$T"
fi
F=$(stat -c %s "$T")
limits=("--memory-limit $((F / 3))" "--memory-limit $((2 * F / 3))" "--memory-limit $((F / 3))")
cluster_start 3 "-m $T -t 1 --cache-type f32" "${limits[@]}"
expect_no_fit 3 "f32 cache at 1/3, 2/3, 1/3 of the file"
cluster_stop
cluster_start 3 "-m $T -t 1" "${limits[@]}"
cluster_wait_plan 3 30
out=$(complete "${API_PORTS[1]}" "$REQ")
[ -n "$out" ] || fail "no completion on the f16 cache"
t=$(topology "${API_PORTS[0]}")
jq -e '.plan.kv_cache.type == "f16"' <<<"$t" >/dev/null || fail "the topology does not say the cache is f16: $t"
echo "f16 cache: layers $(jq -c '[.nodes[] | .layers[1] - .layers[0]]' <<<"$t"), planned MiB $(jq -c '[.nodes[] | .memory.planned / 1048576 | floor]' <<<"$t") of usable $(jq -c '[.nodes[] | .memory.usable / 1048576 | floor]' <<<"$t")"
