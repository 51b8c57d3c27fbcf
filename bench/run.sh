#!/usr/bin/env bash
# make bench: the figures docs/performance.md records, measured in one run on this machine.
#   1. kernel throughput (GB/s per format and kernel set)
#   2. `shoal bench` on synthesized tinyllama-1.1b models (Q4_0, Q8_0, Q4_K_M) with 2 threads:
#      prompt and generation tok/s, memory bandwidth, fraction of the bandwidth bound, batched
#      decode of 1-16 streams in one step (--streams); with a
#      llama.cpp llama-bench (LLAMA_BENCH, or on PATH: the user's own, nothing of llama.cpp is
#      here) the same files through it right after, and a table of shoal / llama.cpp
#   3. decode with one core taken by another process, over decode idle (the pool's shares), and
#      llama-bench's the same way when there is one;
#      tokenizer encode MB/s; structured output: jsonc mask + accept per token (mean, p99)
#   4. the HTTP API (bench/api_bench.sh): API generation tok/s over `shoal generate`, time to first
#      token, aggregate tok/s of 1, 4 and 8 concurrent streams; with a llama-server (LLAMA_SERVER,
#      beside llama-bench or on PATH) the aggregate of 4 and 8 streams against it
#      (bench/streams_bench.mjs)
#   5. the cluster (bench/cluster_bench.sh): single-stream tok/s of 1-4 local pipeline nodes over one
#      node, PING round trip per hop, aggregate tok/s of 4 streams
#   6. LAN sharing (tests/system/cluster_share.sh, root only: network namespaces, the hub behind
#      40 Mbit/s): hub bytes over the file's size, time to the first answer of a cold 3-node start
#      over one node's pull, bytes per node from the hub and from peers
# Synthesized models are cached in build/bench-models (they depend only on the preset and seed).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SHOAL:=build/shoal}" "${THREADS:=2}"
XDG_STATE_HOME=$(mktemp -d) # the nodes' ids and cached capabilities: not in ~
export XDG_STATE_HOME
trap 'rm -rf "$XDG_STATE_HOME"' EXIT
M=build/bench-models
mkdir -p "$M"

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB"
echo "== git: $(git rev-parse --short HEAD 2>/dev/null || echo none)"

if [ -x build/bench_kernels ]; then
	echo "== kernels"
	build/bench_kernels
fi

# llama.cpp's llama-bench, when the user has one (LLAMA_BENCH, else on PATH): the same files, the
# same threads and sizes, right after shoal's, and a table of the ratios at the end
LB=${LLAMA_BENCH:-$(command -v llama-bench || true)}
table=()
for t in q4_0 q8_0 q4_k; do
	f="$M/tinyllama-1.1b-$t.gguf"
	[ -s "$f" ] || "$SHOAL" synth --preset tinyllama-1.1b --type "$t" --vocab tests/data/vocab/ggml-vocab-llama-spm.gguf -o "$f"
	echo "== tinyllama-1.1b $t, $THREADS threads"
	out=$("$SHOAL" bench -m "$f" -t "$THREADS" -p 128 -n 64 -r "${REPEATS:-5}" --streams 1,2,4,8,16 2>&1)
	echo "$out"
	[ -n "$LB" ] || continue
	sp=$(sed -nE 's/^prompt: +([0-9.]+) tok\/s.*/\1/p' <<<"$out")
	sg=$(sed -nE 's/^generation: +([0-9.]+) tok\/s.*/\1/p' <<<"$out")
	lj=$("$LB" -m "$f" -t "$THREADS" -p 128 -n 64 -r "${REPEATS:-5}" -o json 2>/dev/null) || { echo "($LB failed on $f)"; continue; }
	lp=$(jq '[.[] | select(.n_prompt > 0 and .n_gen == 0)][0].avg_ts' <<<"$lj")
	lg=$(jq '[.[] | select(.n_gen > 0 and .n_prompt == 0)][0].avg_ts' <<<"$lj")
	echo "llama.cpp:    prompt $lp tok/s, generation $lg tok/s"
	table+=("$(printf '| %s | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f |' "$t" "$lg" "$lp" "$sg" "$sp" \
		"$(bc -l <<<"$sg / $lg")" "$(bc -l <<<"$sp / $lp")")")
done
echo "== against llama.cpp (tinyllama-1.1b, $THREADS threads, pp128 and tg64)"
if [ -n "$LB" ]; then
	echo "| format | llama.cpp decode / prefill tok/s | shoal decode / prefill tok/s | shoal / llama.cpp |"
	echo "| --- | --- | --- | --- |"
	printf '%s\n' "${table[@]}"
else
	echo "(skipped: no llama-bench on PATH or in LLAMA_BENCH)"
fi

# the pool on a busy machine: decode with one core taken by a process spinning (as a compile would),
# against the same run idle just before
f="$M/tinyllama-1.1b-q4_0.gguf"
echo "== busy machine (tinyllama-1.1b q4_0, $THREADS threads, one core spinning in another process)"
decode_shoal() { "$SHOAL" bench -m "$f" -t "$THREADS" -p 32 -n 64 -r 3 2>&1 | sed -nE 's/^generation: +([0-9.]+) tok\/s.*/\1/p'; }
decode_llama() { "$LB" -m "$f" -t "$THREADS" -p 0 -n 64 -r 3 -o json 2>/dev/null | jq '.[0].avg_ts'; }
for who in shoal ${LB:+llama}; do
	idle=$(decode_$who)
	sh -c 'while :; do :; done' &
	hog=$!
	busy=$(decode_$who)
	kill "$hog"
	printf '%-10s generation %.1f tok/s idle, %.1f tok/s busy (%.2f of idle)\n' "$who:" "$idle" "$busy" "$(bc -l <<<"$busy / $idle")"
done

if [ -x build/bench_tokenize ]; then
	echo "== tokenizer"
	build/bench_tokenize tests/data/vocab
fi

if [ -x build/bench_jsonc ]; then
	echo "== structured output (jsonc mask + accept per token)"
	build/bench_jsonc tests/data/vocab
fi

if command -v node >/dev/null; then
	echo "== HTTP API (tinyllama-1.1b q4_0, $THREADS threads)"
	SHOAL="$SHOAL" THREADS="$THREADS" REPEATS="${REPEATS:-5}" bench/api_bench.sh "$M/tinyllama-1.1b-q4_0.gguf"
	# llama.cpp's llama-server, when the user has one (LLAMA_SERVER, else beside llama-bench or on PATH)
	LS=${LLAMA_SERVER:-$( { [ -n "$LB" ] && [ -x "$(dirname "$LB")/llama-server" ] && echo "$(dirname "$LB")/llama-server"; } || command -v llama-server || true)}
	echo "== concurrent streams against llama-server (tinyllama-1.1b q4_0, $THREADS threads, 32 tokens each)"
	if [ -n "$LS" ]; then
		SHOAL="$SHOAL" node bench/streams_bench.mjs "$M/tinyllama-1.1b-q4_0.gguf" "$LS" "$THREADS" 32 "${REPEATS:-5}"
	else
		echo "(skipped: no llama-server in LLAMA_SERVER, beside llama-bench or on PATH)"
	fi
	echo "== cluster (tinyllama-1.1b q4_0, -t 1 per node, loopback)"
	SHOAL="$SHOAL" REPEATS="${REPEATS:-5}" bench/cluster_bench.sh "$M/tinyllama-1.1b-q4_0.gguf"
fi

echo "== LAN sharing (3 nodes in network namespaces, the hub at 40 Mbit/s, test-mid q4_0)"
if [ "$(id -u)" = 0 ]; then
	SHOAL="$SHOAL" bash tests/system/cluster_share.sh 2>/dev/null || echo "(the run failed: bash tests/system/cluster_share.sh)"
else
	echo "(needs root: network namespaces)"
fi
