#!/usr/bin/env bash
# `shoal generate` greedy from BOS on stories260K prints llama2.c's reference text, and
# `shoal tokenize` / `shoal info` / `shoal logits` work on the real file.
set -euo pipefail
: "${SHOAL:=build/shoal}" "${STORIES:=models/stories260K.gguf}" "${TESTDATA:=tests/data}"
M="$STORIES"
E="$TESTDATA/expected"
trim() { sed -e ':a;N;$!ba' -e 's/^[[:space:]]*//;s/[[:space:]]*$//'; }
got=$("$SHOAL" generate -m "$M" -p "" -n 256 --temp 0 2>/dev/null | trim)
want=$(trim <"$E/stories260K_greedy_bos.txt")
[ "$got" = "$want" ] || { echo "generate differs:"; diff <(echo "$want") <(echo "$got"); exit 1; }

# prompt "Zoo": llama2.c's sample (57 generated ids); the text continues the prompt
got=$("$SHOAL" generate -m "$M" -p "Zoo" -n 57 --temp 0 2>/dev/null)
want=$(sed -n 's/^text: //p' "$E/stories260K_greedy_prompt_Zoo_n60.txt")
[ "Zoo$got" = "$want" ] || { echo "Zoo differs:"; diff <(echo "$want") <(echo "Zoo$got"); exit 1; }

[ "$("$SHOAL" tokenize -m "$M" -p "Zoo")" = "1 410 469 347" ]
[ "$("$SHOAL" tokenize -m "$M" -p "Zoo" --no-bos)" = "410 469 347" ]

"$SHOAL" info "$M" | grep -q "architecture:  llama"
"$SHOAL" info "$M" | grep -q "parameters:    292.8 K (292800)"

# logits: ids line then one line of 512 values per position
out=$("$SHOAL" logits -m "$M" -p "Zoo")
[ "$(head -1 <<<"$out")" = "1 410 469 347" ]
[ "$(wc -l <<<"$out")" -eq 5 ]
[ "$(sed -n 2p <<<"$out" | wc -w)" -eq 512 ]

# a bad file is one clear error line, exit status 1, no crash
bad=$(mktemp)
head -c 5000 "$M" >"$bad"
if "$SHOAL" info "$bad" 2>"$bad.err"; then echo "truncated file accepted"; exit 1; fi
grep -q "$bad" "$bad.err"
[ "$(wc -l <"$bad.err")" -eq 1 ]
rm -f "$bad" "$bad.err"
echo ok
