#!/usr/bin/env bash
# Runs every test suite and prints one summary line "N passed, N failed".
#   unit:   the Criterion binary ($TEST_UNIT), each Test() counted
#   system: tests/system/*.sh, real `shoal` processes ($SHOAL), each script counted once
#   fuzz:   with $FUZZ_GGUF (make san), a bounded libFuzzer run of the GGUF parser; with $FUZZ_WIRE,
#           one of the protocol decoder (seeded with one message of each type); with $FUZZ_BEACON, one of
#           the discovery beacon decoder (seeded with a plain and a keyed beacon); with $FUZZ_REQUEST,
#           one of the OpenAI request parser (seeded from tests/fuzz/seeds/request); with $FUZZ_TEMPLATE,
#           one of the chat-template interpreter (seeded with the real templates of shared/templates)
set -u
cd "$(dirname "$0")/.."
: "${SHOAL:=build/shoal}" "${TEST_UNIT:=build/test_unit}"
export SHOAL SHARED="${SHARED:-$(cd .. && pwd)/shared}"
# nodes keep their id and cached capabilities in a state directory: a fresh one per run, never ~
XDG_STATE_HOME=$(mktemp -d)
export XDG_STATE_HOME
trap 'rm -rf "$XDG_STATE_HOME"' EXIT
passed=0 failed=0

log=$(mktemp)
"$TEST_UNIT" --jobs "$(nproc)" 2>&1 | tee "$log"
syn=$(grep -a 'Synthesis: Tested' "$log" | tail -1)
if [ -n "$syn" ]; then
	p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$syn")
	f=$(sed -E 's/.*Failing: ([0-9]+).*Crashing: ([0-9]+).*/\1+\2/' <<<"$syn")
	passed=$((passed + p)) failed=$((failed + f))
else
	echo "unit tests: no summary (the runner died)"
	failed=$((failed + 1))
fi
rm -f "$log"

for t in tests/system/*.sh; do
	[ -e "$t" ] || continue
	start=$(date +%s)
	if out=$(bash "$t" 2>&1); then
		passed=$((passed + 1)); echo "PASS $t ($(( $(date +%s) - start ))s)"
	else
		failed=$((failed + 1)); echo "FAIL $t"; echo "$out" | tail -30 | sed 's/^/    /'
	fi
done

# fuzz NAME BINARY SECONDS [SEED_FILE... | --] [FUZZER_OPTION...]: a bounded libFuzzer run from a
# fresh corpus of the seed files (FUZZ_WIRE_SEEDS lets fuzz_wire write its own seeds there)
fuzz() {
	local name=$1 bin=$2 secs=$3 corpus
	shift 3
	corpus=$(mktemp -d)
	while [ $# -gt 0 ] && [ "$1" != -- ]; do cp "$1" "$corpus"/; shift; done
	[ $# -gt 0 ] && shift
	if FUZZ_WIRE_SEEDS="$corpus" "$bin" -max_total_time="$secs" -rss_limit_mb=4096 "$@" "$corpus" >"$corpus.log" 2>&1; then
		passed=$((passed + 1)); echo "PASS $name ($(grep -a -o 'Done [0-9]* runs' "$corpus.log"))"
	else
		failed=$((failed + 1)); echo "FAIL $name"; tail -40 "$corpus.log"
	fi
	rm -rf "$corpus" "$corpus.log"
}

[ -z "${FUZZ_GGUF:-}" ] || fuzz fuzz_gguf "$FUZZ_GGUF" "${FUZZ_SECONDS:-30}" \
	"$SHARED/models/gguf/stories260K.gguf" "$SHARED/models/quant/llama-Q4_K_M.gguf"
[ -z "${FUZZ_WIRE:-}" ] || fuzz fuzz_wire "$FUZZ_WIRE" "${FUZZ_WIRE_SECONDS:-15}"
[ -z "${FUZZ_BEACON:-}" ] || fuzz fuzz_beacon "$FUZZ_BEACON" "${FUZZ_BEACON_SECONDS:-10}"
[ -z "${FUZZ_REQUEST:-}" ] || fuzz fuzz_request "$FUZZ_REQUEST" "${FUZZ_REQUEST_SECONDS:-15}" tests/fuzz/seeds/request/*
[ -z "${FUZZ_TEMPLATE:-}" ] || fuzz fuzz_template "$FUZZ_TEMPLATE" "${FUZZ_TEMPLATE_SECONDS:-20}" \
	"$SHARED"/templates/*.jinja -- -dict=tests/fuzz/template.dict

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
