#!/usr/bin/env bash
# `shoal template` renders every real template (tests/data/templates) x conversation byte-exactly like the HF
# references (templates/expected), with the README's special tokens, without tools and with --tools
# (tool_conversations.json); where there is no reference the template raises: one error line
# (Gemma 2's own message for a system role, the tool_use templates' iteration of tools=None, ...)
# and a non-zero status; --messages and --tools take a request body too; a model's GGUF template
# and its bos/eos are used with -m; a model without one falls back to ChatML with a warning;
# --chat-template overrides; bad input (messages, tools) is one clear error.
set -euo pipefail
: "${SHOAL:=build/shoal}" "${STORIES:=models/stories260K.gguf}" "${TESTDATA:=tests/data}"
T="$TESTDATA/templates"
V="$TESTDATA/vocab"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the conversations, one file each; with tools: NAME.json and NAME.tools.json in tools/
mkdir "$tmp/tools"
python3 - "$T" "$tmp" <<'EOF'
import json, sys
for name, msgs in json.load(open(f"{sys.argv[1]}/conversations.json")).items():
    json.dump(msgs, open(f"{sys.argv[2]}/{name}.json", "w"), ensure_ascii=False)
for name, c in json.load(open(f"{sys.argv[1]}/tool_conversations.json")).items():
    json.dump(c["messages"], open(f"{sys.argv[2]}/tools/{name}.json", "w"), ensure_ascii=False)
    json.dump(c["tools"], open(f"{sys.argv[2]}/tools/{name}.tools.json", "w"), ensure_ascii=False)
EOF

tokens() { # template name -> bos eos, as templates/README.md lists them
	case "$1" in
	NousResearch-*) echo '<|begin_of_text|>' '<|im_end|>' ;;
	CohereForAI-*) echo '<BOS_TOKEN>' '<|END_OF_TURN_TOKEN|>' ;;
	meta-llama-*) echo '<|begin_of_text|>' '<|eot_id|>' ;;
	Qwen-*) echo '' '<|im_end|>' ;;
	microsoft-*) echo '<s>' '<|endoftext|>' ;;
	mistralai-*) echo '<s>' '</s>' ;;
	google-*) echo '<bos>' '<eos>' ;;
	deepseek-ai-*) echo '<｜begin▁of▁sentence｜>' '<｜end▁of▁sentence｜>' ;;
	*) echo "no tokens for $1" >&2; exit 1 ;;
	esac
}

NOW=1721995200 # 2024-07-26 12:00 UTC: strftime_now gives 26 Jul 2024 in any time zone, as the references have it
# every template x every conversation in DIR (NAME.json, with NAME.tools.json when there is one): its reference,
# or, where there is none, one error line as raised_pattern says and nothing on stdout; counts both
render_all() { # DIR
	local tf name bos eos conv c want targs
	matched=0 raised=0
	for tf in "$T"/*.jinja; do
		name=$(basename "$tf" .jinja)
		read -r bos eos <<<"$(tokens "$name")"
		[ "$name" = "${name#Qwen-}" ] || { eos=$bos; bos=''; } # Qwen's bos is empty: read put the eos first
		for conv in "$1"/*.json; do
			[ "$conv" = "${conv%.tools.json}" ] || continue
			c=$(basename "$conv" .json)
			targs=()
			[ ! -e "$1/$c.tools.json" ] || targs=(--tools "$1/$c.tools.json")
			want="$T/expected/$name.$c.txt"
			if [ -e "$want" ]; then
				"$SHOAL" template --template-file "$tf" --bos "$bos" --eos "$eos" --messages "$conv" "${targs[@]}" --now "$NOW" \
					>"$tmp/out" 2>"$tmp/err" || { echo "$name.$c failed:"; cat "$tmp/err"; exit 1; }
				cmp -s "$tmp/out" "$want" || { echo "$name.$c differs:"; diff "$want" "$tmp/out" || true; exit 1; }
				[ ! -s "$tmp/err" ] || { echo "$name.$c wrote to stderr:"; cat "$tmp/err"; exit 1; }
				matched=$((matched + 1))
			else
				if "$SHOAL" template --template-file "$tf" --bos "$bos" --eos "$eos" --messages "$conv" "${targs[@]}" \
					>"$tmp/out" 2>"$tmp/err"; then
					echo "$name.$c should have failed"; exit 1
				fi
				[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qE "$(raised_pattern "$name" "$c")" "$tmp/err" ||
					{ echo "$name.$c: stderr:"; cat "$tmp/err"; exit 1; }
				[ ! -s "$tmp/out" ] || { echo "$name.$c printed output"; exit 1; }
				raised=$((raised + 1))
			fi
		done
	done
}
raised_pattern() { # template conversation -> the error line it gives (the template's raise_exception, or jinja2's TypeError)
	case "$1.$2" in
	google-*.tools_call* | google-*.tools_parallel) echo '^shoal: error: Conversation roles must alternate user/assistant/user/assistant/\.\.\.$' ;;
	google-*) echo '^shoal: error: System role not supported$' ;;
	*-tool_use.*) echo "^shoal: error: line [0-9]+: 'NoneType' object is not iterable$" ;; # they iterate tools: None here
	meta-llama-*) echo '^shoal: error: This model only supports single tool-calls at once!$' ;;
	microsoft-*) echo '^shoal: error: line 6: can only concatenate str \(not "NoneType"\) to str$' ;; # content null
	deepseek-ai-*) echo '^shoal: error: line 1: can only concatenate str \(not "dict"\) to str$' ;;    # arguments an object
	*) echo "no error expected for $1.$2" ;;
	esac
}
render_all "$tmp"
[ "$matched" -eq 30 ] && [ "$raised" -eq 10 ] || { echo "without tools: matched $matched, raised $raised"; exit 1; }
render_all "$tmp/tools"
[ "$matched" -eq 39 ] && [ "$raised" -eq 11 ] || { echo "with tools: matched $matched, raised $raised"; exit 1; }

# a request body holds both: --messages and --tools read the same file
python3 - "$T/tool_conversations.json" "$tmp/body.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))["tools_call"]
json.dump({"model": "m", "messages": c["messages"], "tools": c["tools"], "stream": False}, open(sys.argv[2], "w"))
EOF
"$SHOAL" template --template-file "$T/Qwen-Qwen2.5-7B-Instruct.jinja" --eos '<|im_end|>' --messages "$tmp/body.json" \
	--tools "$tmp/body.json" >"$tmp/out"
cmp "$tmp/out" "$T/expected/Qwen-Qwen2.5-7B-Instruct.tools_call.txt"

# -m: the model's own template and special tokens (phi-3 carries both)
printf '<s><|user|>\nName a fish.<|end|>\n<|assistant|>\nSalmon.<|end|>\n<|user|>\nAnother one, please — in émoji too 🐟?<|end|>\n<|assistant|>\n' >"$tmp/want"
"$SHOAL" template -m "$V/ggml-vocab-phi-3.gguf" --messages "$tmp/multiturn.json" >"$tmp/out"
cmp "$tmp/out" "$tmp/want"

# no template in the model: ChatML, and one warning line
printf '<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n' >"$tmp/want"
"$SHOAL" template -m "$STORIES" --messages "$tmp/hello.json" >"$tmp/out" 2>"$tmp/err"
cmp "$tmp/out" "$tmp/want"
grep -q "warning: .*stories260K.gguf: no tokenizer.chat_template in the model, using ChatML" "$tmp/err"
[ "$(wc -l <"$tmp/err")" -eq 1 ]

# --chat-template: a built-in by name (with the model's bos), or a file; --no-generation-prompt
out=$("$SHOAL" template -m "$STORIES" --chat-template llama3 --messages "$tmp/hello.json")
[ "$out" = $'<s><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>' ]
"$SHOAL" template -m "$STORIES" --chat-template "$T/google-gemma-2-2b-it.jinja" --messages "$tmp/hello.json" >"$tmp/out"
printf '<s><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\n' >"$tmp/want"
cmp "$tmp/out" "$tmp/want"
out=$("$SHOAL" template --chat-template chatml --no-generation-prompt --messages "$tmp/hello.json")
[ "$out" = $'<|im_start|>user\nHello!<|im_end|>' ]

# errors: one line, status 1
fails() { # expected stderr pattern, then the command's arguments
	local pat=$1
	shift
	if "$SHOAL" template "$@" >"$tmp/out" 2>"$tmp/err"; then echo "should fail: $*"; exit 1; fi
	grep -q "$pat" "$tmp/err" || { echo "for $*:"; cat "$tmp/err"; exit 1; }
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || { echo "more than one line for $*:"; cat "$tmp/err"; exit 1; }
	[ ! -s "$tmp/out" ]
}
fails "template: give one template" --messages "$tmp/hello.json"
fails "template: --messages FILE.json is required" --template-file "$T/google-gemma-2-2b-it.jinja"
fails "nosuch: cannot open" --chat-template nosuch --messages "$tmp/hello.json"
printf '{"a":' >"$tmp/bad.json"
fails "bad.json: line 1" --chat-template chatml --messages "$tmp/bad.json"
printf '{"role": "user"}' >"$tmp/obj.json"
fails "obj.json: not a JSON array of messages" --chat-template chatml --messages "$tmp/obj.json"
printf 'ok\n{%% for x in %%}' >"$tmp/broken.jinja"
fails "broken.jinja: line 2: " --template-file "$tmp/broken.jinja" --messages "$tmp/hello.json"
printf '{{ raise_exception("two\nlines") }}' >"$tmp/raise.jinja"
fails "^shoal: error: two lines$" --template-file "$tmp/raise.jinja" --messages "$tmp/hello.json"
printf '{{ messages[0].nope.deeper }}' >"$tmp/undef.jinja"
fails "line 1: 'dict object' has no attribute 'nope'" --template-file "$tmp/undef.jinja" --messages "$tmp/hello.json"
fails "nope.gguf" -m "$tmp/nope.gguf" --messages "$tmp/hello.json"
fails "template: --now: 'soon' is not an integer" --chat-template chatml --messages "$tmp/hello.json" --now soon
# bad tools: not JSON, no tools array, a tool that is not an object, no file
printf '[{"type": "function",' >"$tmp/badtools.json"
fails "badtools.json: line 1 column" --chat-template chatml --messages "$tmp/hello.json" --tools "$tmp/badtools.json"
fails "obj.json: not a JSON array of tools" --chat-template chatml --messages "$tmp/hello.json" --tools "$tmp/obj.json"
printf '["get_weather"]' >"$tmp/strtools.json"
fails "tools\[0\]: not an object" --chat-template chatml --messages "$tmp/hello.json" --tools "$tmp/strtools.json"
fails "nope.json: " --chat-template chatml --messages "$tmp/hello.json" --tools "$tmp/nope.json"
# without --now, strftime_now reads the real clock
printf '{{ strftime_now("%%Y") }}' >"$tmp/year.jinja"
[ "$("$SHOAL" template --template-file "$tmp/year.jinja" --messages "$tmp/hello.json")" = "$(date +%Y)" ]
echo ok
