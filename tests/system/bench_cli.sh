#!/usr/bin/env bash
# `shoal bench` on stories260K: the prompt, generation and bandwidth lines, and with --streams one
# aggregate line per count, each a positive tok/s; a bad --streams list is one error line naming
# the option, exit 1.
set -euo pipefail
: "${SHOAL:=build/shoal}" "${STORIES:=models/stories260K.gguf}"
fail() { echo "FAIL: $*"; exit 1; }

out=$("$SHOAL" bench -m "$STORIES" -t 1 -p 8 -n 4 -r 1 --streams 1,3 2>/dev/null) || fail "bench exited $?"
for l in "prompt:" "generation:" "bandwidth:" "streams 1 " "streams 3 "; do
	grep -q "^$l" <<<"$out" || fail "no '$l' line in: $out"
done
for n in 1 3; do
	v=$(sed -nE "s/^streams $n +([0-9.]+) tok\/s aggregate.*/\1/p" <<<"$out")
	[ -n "$v" ] && awk -v v="$v" 'BEGIN { exit !(v > 0) }' || fail "streams $n: no positive tok/s in: $out"
done
"$SHOAL" bench -m "$STORIES" -t 1 -p 8 -n 4 -r 1 2>/dev/null | grep -q "^streams" && fail "streams lines without --streams"

for bad in 0 65 x 1,,2 2, -1; do
	rc=0
	err=$("$SHOAL" bench -m "$STORIES" -t 1 -p 8 -n 4 -r 1 --streams "$bad" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = 1 ] || fail "--streams $bad: exit $rc (want 1)"
	[ "$(wc -l <<<"$err")" = 1 ] && grep -q -- "--streams" <<<"$err" || fail "--streams $bad: error '$err'"
done
echo "bench_cli: ok"
