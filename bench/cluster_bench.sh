#!/usr/bin/env bash
# The cluster benchmark (bench/cluster_bench.mjs): single-stream generation tok/s of 1-4 local
# pipeline nodes (-t 1 each) over one plain node (-t 1), PING round trips per hop, aggregate tok/s
# of 4 concurrent streams, on synthesized tinyllama-1.1b Q4_0.
#   bench/cluster_bench.sh [MODEL]     (N_GEN, REPEATS, MAX_NODES, AGG_REPEATS, WIRE=f32|f16 from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SHOAL:=build/shoal}" "${N_GEN:=64}" "${REPEATS:=5}" "${MAX_NODES:=4}" "${AGG_REPEATS:=3}"
f="${1:-build/bench-models/tinyllama-1.1b-q4_0.gguf}"
if [ ! -s "$f" ]; then
	mkdir -p "$(dirname "$f")"
	"$SHOAL" synth --preset tinyllama-1.1b --type q4_0 --vocab tests/data/vocab/ggml-vocab-llama-spm.gguf -o "$f"
fi
SHOAL="$SHOAL" node bench/cluster_bench.mjs "$f" "$N_GEN" "$REPEATS" "$MAX_NODES" "$AGG_REPEATS"
