#!/usr/bin/env bash
# Runs every test suite and prints one summary line "N passed, N failed, N skipped".
#   unit:   the Criterion binary ($TEST_UNIT), each Test() counted from its TAP report; a test
#           that calls cr_skip_test (the llama.cpp reference set is absent) is skipped
#   system: tests/system/*.sh, real `shoal` processes ($SHOAL), each script counted once; a script
#           that exits 77 is skipped, its last line saying why (e.g. "SKIP: needs root")
#   fuzz:   with $FUZZ_GGUF (make san), a bounded libFuzzer run of the GGUF parser; with $FUZZ_WIRE,
#           one of the protocol decoder (seeded with one message of each type); with $FUZZ_BEACON, one of
#           the discovery beacon decoder (seeded with a plain and a keyed beacon); with $FUZZ_REQUEST,
#           one of the OpenAI request parser (seeded from tests/fuzz/seeds/request); with $FUZZ_TEMPLATE,
#           one of the chat-template interpreter (seeded with the real templates of tests/data/templates);
#           with $FUZZ_HUB, one of model references and the hub's tree listing (seeded with a listing)
# Skipped means the test did not run: it never counts as passed. The reasons follow the summary.
# Test data: the bundled model ($STORIES), tests/data ($TESTDATA), and llama.cpp's reference set
# ($SHOAL_REFDATA, else ../shared/models/quant), the one part that is not in the repository.
set -u
cd "$(dirname "$0")/.."
: "${SHOAL:=build/shoal}" "${TEST_UNIT:=build/test_unit}"
export SHOAL STORIES="$PWD/models/stories260K.gguf" TESTDATA="$PWD/tests/data"
export SHOAL_REFDATA="${SHOAL_REFDATA:-$(cd .. && pwd)/shared/models/quant}"
# nodes keep their id and cached capabilities in a state directory: a fresh one per run, never ~
XDG_STATE_HOME=$(mktemp -d)
export XDG_STATE_HOME
trap 'rm -rf "$XDG_STATE_HOME"' EXIT
passed=0 failed=0 skipped=0 reasons=()

skip() { # name reason
	skipped=$((skipped + 1))
	reasons+=("$2	$1")
}

tap=$(mktemp)
"$TEST_UNIT" --jobs "$(nproc)" --tap="$tap" 2>&1
plan=$(sed -nE 's/^1\.\.([0-9]+)$/\1/p' "$tap")
ran=$(grep -cE '^(not )?ok ' "$tap")
passed=$((passed + $(grep -E '^ok ' "$tap" | grep -vc ' # SKIP')))
failed=$((failed + $(grep -cE '^not ok ' "$tap")))
while IFS= read -r line; do
	skip "$(sed -E 's/^ok - ([^ ]+).*/\1/' <<<"$line")" "$(sed -E 's/.* # SKIP //' <<<"$line")"
done < <(grep -E '^ok .* # SKIP' "$tap")
if [ -z "$plan" ] || [ "$ran" -ne "$plan" ]; then
	echo "unit tests: $ran of ${plan:-?} reported (the runner died)"
	failed=$((failed + 1))
fi
rm -f "$tap"

for t in tests/system/*.sh; do
	[ -e "$t" ] || continue
	start=$(date +%s)
	out=$(bash "$t" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1)); echo "PASS $t ($(( $(date +%s) - start ))s)"
	elif [ "$rc" -eq 77 ]; then
		why=$(tail -1 <<<"$out" | sed -E 's/^SKIP:? *//')
		skip "$t" "$why"; echo "SKIP $t: $why"
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
	# a crashing input is kept in build/ (which git ignores): build/fuzz-NAME-crash-*
	mkdir -p build
	if FUZZ_WIRE_SEEDS="$corpus" "$bin" -max_total_time="$secs" -rss_limit_mb=4096 -artifact_prefix="build/fuzz-$name-" \
		"$@" "$corpus" >"$corpus.log" 2>&1; then
		passed=$((passed + 1)); echo "PASS $name ($(grep -a -o 'Done [0-9]* runs' "$corpus.log"))"
	else
		failed=$((failed + 1)); echo "FAIL $name (the input: $(ls build/fuzz-"$name"-* 2>/dev/null | head -1))"; tail -40 "$corpus.log"
	fi
	rm -rf "$corpus" "$corpus.log"
}

# the GGUF fuzzer starts from the bundled model, plus a K-quant file when the reference set is here
gguf_seeds=("$STORIES")
[ -f "$SHOAL_REFDATA/llama-Q4_K_M.gguf" ] && gguf_seeds+=("$SHOAL_REFDATA/llama-Q4_K_M.gguf")
[ -z "${FUZZ_GGUF:-}" ] || fuzz fuzz_gguf "$FUZZ_GGUF" "${FUZZ_SECONDS:-30}" "${gguf_seeds[@]}"
[ -z "${FUZZ_WIRE:-}" ] || fuzz fuzz_wire "$FUZZ_WIRE" "${FUZZ_WIRE_SECONDS:-15}"
[ -z "${FUZZ_BEACON:-}" ] || fuzz fuzz_beacon "$FUZZ_BEACON" "${FUZZ_BEACON_SECONDS:-10}"
[ -z "${FUZZ_REQUEST:-}" ] || fuzz fuzz_request "$FUZZ_REQUEST" "${FUZZ_REQUEST_SECONDS:-15}" tests/fuzz/seeds/request/*
[ -z "${FUZZ_HUB:-}" ] || fuzz fuzz_hub "$FUZZ_HUB" "${FUZZ_HUB_SECONDS:-10}"
[ -z "${FUZZ_TEMPLATE:-}" ] || fuzz fuzz_template "$FUZZ_TEMPLATE" "${FUZZ_TEMPLATE_SECONDS:-20}" \
	"$TESTDATA"/templates/*.jinja -- -dict=tests/fuzz/template.dict

# the skipped tests by reason, then the summary line with the distinct reasons
why=""
if [ "$skipped" -gt 0 ]; then
	printf '%s\n' "${reasons[@]}" | sort | awk -F '\t' '
		$1 != r { if (NR > 1) print ""; r = $1; printf "skipped (%s):", r; sep = " " }
		{ printf "%s%s", sep, $2; sep = ", " }
		END { print "" }'
	why=" ($(printf '%s\n' "${reasons[@]}" | cut -f1 | sort | uniq -c |
		awk '{ n = $1; sub(/^ *[0-9]+ /, ""); printf("%s%d: %s", (NR > 1 ? "; " : ""), n, $0) }'))"
fi
echo "$passed passed, $failed failed, $skipped skipped$why"
[ "$failed" -eq 0 ]
