#!/usr/bin/env bash
# shoal chat: replies go through the chat template, /clear forgets the conversation, /exit quits,
# and Ctrl-C stops a reply (or an idle prompt) without ending the program.
set -euo pipefail
: "${SHOAL:=build/shoal}" "${STORIES:=models/stories260K.gguf}" "${TESTDATA:=tests/data}"
M="$STORIES"
tmp=$(mktemp -d)
pid=
trap 'exec 3>&- 2>/dev/null || true; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. one greedy turn is generate's continuation of the rendered prompt (stories260K has no
#    template: ChatML, with a warning), plus the newline that ends a reply
printf 'Hello\n/exit\nnot read\n' | "$SHOAL" chat -m "$M" --temp 0 -n 24 >"$tmp/one" 2>"$tmp/err"
grep -q "ChatML" "$tmp/err" || fail "no ChatML fallback warning: $(cat "$tmp/err")"
"$SHOAL" generate -m "$M" --temp 0 -n 24 --parse-special \
	-p $'<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n' >"$tmp/gen" 2>/dev/null
echo >>"$tmp/gen"
[ -s "$tmp/gen" ] && cmp -s "$tmp/one" "$tmp/gen" || fail "chat reply differs from generate: $(diff "$tmp/one" "$tmp/gen")"

# 2. /clear: the same question twice gives the same reply twice; without /clear the history counts
printf 'Hello\n/clear\nHello\n' | "$SHOAL" chat -m "$M" --temp 0 -n 24 >"$tmp/cleared" 2>/dev/null
cat "$tmp/one" "$tmp/one" | cmp -s - "$tmp/cleared" || fail "/clear did not forget: $(cat "$tmp/cleared")"
printf 'Hello\nHello\n' | "$SHOAL" chat -m "$M" --temp 0 -n 24 >"$tmp/history" 2>/dev/null
head -c "$(wc -c <"$tmp/one")" "$tmp/history" | cmp -s - "$tmp/one" || fail "first turn differs"
cmp -s "$tmp/history" "$tmp/cleared" && fail "the second turn ignored the history"

# 3. invalid UTF-8 typed in is replaced, not fatal: two turns, two replies
printf 'Hi \xff\xfe there\nand you?\n/exit\n' | "$SHOAL" chat -m "$M" --temp 0 -n 8 >"$tmp/bad" 2>/dev/null ||
	fail "invalid UTF-8 input ended the chat"
[ "$(grep -c '' "$tmp/bad")" -ge 2 ] || fail "not two replies: $(cat "$tmp/bad")"

# 4. Ctrl-C stops a reply that would not end by itself, then the chat goes on
"$SHOAL" synth --preset qwen2.5-0.5b --type q4_0 --vocab "$TESTDATA/vocab/ggml-vocab-qwen2.gguf" \
	-o "$tmp/q.gguf" >/dev/null 2>&1
mkfifo "$tmp/in"
"$SHOAL" chat -m "$tmp/q.gguf" -c 4096 --ignore-eos -t 2 <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
pid=$!
exec 3>"$tmp/in"
echo "tell me a long story" >&3
for _ in $(seq 200); do [ -s "$tmp/out" ] && break; sleep 0.05; done
[ -s "$tmp/out" ] || fail "no reply started: $(cat "$tmp/err")"
kill -INT "$pid"
for _ in $(seq 100); do [ "$(tail -c 1 "$tmp/out" | od -An -c | tr -d ' ')" = '\n' ] && break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null || fail "Ctrl-C ended the program"
[ "$(tail -c 1 "$tmp/out" | od -An -c | tr -d ' ')" = '\n' ] || fail "the reply did not stop on Ctrl-C"
size=$(wc -c <"$tmp/out")
sleep 0.3
[ "$(wc -c <"$tmp/out")" -eq "$size" ] || fail "the reply went on after Ctrl-C"
kill -INT "$pid" # at the prompt: nothing to stop, the program stays
sleep 0.2
kill -0 "$pid" 2>/dev/null || fail "Ctrl-C at the prompt ended the program"
echo "/exit" >&3
exec 3>&-
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "chat did not exit on /exit"
wait "$pid" || fail "chat exited with status $?"
pid=
echo ok
