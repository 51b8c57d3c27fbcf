#!/usr/bin/env bash
# Runs every test suite and prints one summary line "N passed, N failed".
#   unit:   the Criterion binary ($TEST_UNIT), each Test() counted
#   system: tests/system/*.sh, real `shoal` processes ($SHOAL), each script counted once
#   fuzz:   with $FUZZ_GGUF (make san), a bounded libFuzzer run of the GGUF parser; with $FUZZ_WIRE,
#           one of the protocol decoder (seeded with one message of each type); with $FUZZ_REQUEST,
#           one of the OpenAI request parser (seeded from tests/fuzz/seeds/request); with $FUZZ_TEMPLATE,
#           one of the chat-template interpreter (seeded with the real templates of shared/templates)
set -u
cd "$(dirname "$0")/.."
: "${SHOAL:=build/shoal}" "${TEST_UNIT:=build/test_unit}"
export SHOAL SHARED="${SHARED:-$(cd .. && pwd)/shared}"
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

if [ -n "${FUZZ_GGUF:-}" ]; then
	corpus=$(mktemp -d)
	cp "$SHARED/models/gguf/stories260K.gguf" "$SHARED"/models/quant/llama-Q4_K_M.gguf "$corpus"/
	if "$FUZZ_GGUF" -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=4096 "$corpus" >"$corpus.log" 2>&1; then
		passed=$((passed + 1)); echo "PASS fuzz_gguf ($(grep -a -o 'Done [0-9]* runs' "$corpus.log"))"
	else
		failed=$((failed + 1)); echo "FAIL fuzz_gguf"; tail -40 "$corpus.log"
	fi
	rm -rf "$corpus" "$corpus.log"
fi

if [ -n "${FUZZ_WIRE:-}" ]; then
	corpus=$(mktemp -d)
	if FUZZ_WIRE_SEEDS="$corpus" "$FUZZ_WIRE" -max_total_time="${FUZZ_WIRE_SECONDS:-15}" -rss_limit_mb=4096 "$corpus" \
		>"$corpus.log" 2>&1; then
		passed=$((passed + 1)); echo "PASS fuzz_wire ($(grep -a -o 'Done [0-9]* runs' "$corpus.log"))"
	else
		failed=$((failed + 1)); echo "FAIL fuzz_wire"; tail -40 "$corpus.log"
	fi
	rm -rf "$corpus" "$corpus.log"
fi

if [ -n "${FUZZ_REQUEST:-}" ]; then
	corpus=$(mktemp -d)
	cp tests/fuzz/seeds/request/* "$corpus"/
	if "$FUZZ_REQUEST" -max_total_time="${FUZZ_REQUEST_SECONDS:-15}" -rss_limit_mb=4096 "$corpus" >"$corpus.log" 2>&1; then
		passed=$((passed + 1)); echo "PASS fuzz_request ($(grep -a -o 'Done [0-9]* runs' "$corpus.log"))"
	else
		failed=$((failed + 1)); echo "FAIL fuzz_request"; tail -40 "$corpus.log"
	fi
	rm -rf "$corpus" "$corpus.log"
fi

if [ -n "${FUZZ_TEMPLATE:-}" ]; then
	corpus=$(mktemp -d)
	cp "$SHARED"/templates/*.jinja "$corpus"/
	if "$FUZZ_TEMPLATE" -max_total_time="${FUZZ_TEMPLATE_SECONDS:-20}" -rss_limit_mb=4096 -dict=tests/fuzz/template.dict "$corpus" \
		>"$corpus.log" 2>&1; then
		passed=$((passed + 1)); echo "PASS fuzz_template ($(grep -a -o 'Done [0-9]* runs' "$corpus.log"))"
	else
		failed=$((failed + 1)); echo "FAIL fuzz_template"; tail -40 "$corpus.log"
	fi
	rm -rf "$corpus" "$corpus.log"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
