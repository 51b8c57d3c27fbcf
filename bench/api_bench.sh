#!/usr/bin/env bash
# The HTTP API benchmark (bench/api_bench.mjs): API generation tok/s over `shoal generate`, time to
# first token, aggregate tok/s of 1, 4 and 8 concurrent streams, on synthesized tinyllama-1.1b Q4_0.
#   bench/api_bench.sh [MODEL]     (THREADS, N_GEN, REPEATS from the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SHOAL:=build/shoal}" "${THREADS:=2}" "${N_GEN:=64}" "${REPEATS:=3}"
f="${1:-build/bench-models/tinyllama-1.1b-q4_0.gguf}"
if [ ! -s "$f" ]; then
	mkdir -p "$(dirname "$f")"
	"$SHOAL" synth --preset tinyllama-1.1b --type q4_0 --vocab tests/data/vocab/ggml-vocab-llama-spm.gguf -o "$f"
fi
SHOAL="$SHOAL" node bench/api_bench.mjs "$f" "$THREADS" "$N_GEN" "$REPEATS"
