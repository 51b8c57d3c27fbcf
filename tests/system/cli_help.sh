#!/usr/bin/env bash
# The command line explains itself:
#   1. `shoal`, `shoal help` and `shoal --help` list every command there is (each `cmd_NAME` of
#      src/main), each with a one-line description, and nothing is cut off with "...";
#   2. `shoal COMMAND --help` (and `shoal help COMMAND`) of every command prints its usage and a line
#      with a meaning for every option; every option the command's source names is in its help, and
#      every option its help lists is accepted (the parser does not call it unknown);
#   3. `shoal --version` and `shoal version` print the version, the commit built and the kernels;
#   4. an unknown option, a missing value and a missing required option name themselves;
#   5. README's synopsis of each command lists exactly the options of its --help.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${SHOAL:=build/shoal}"
fail() { echo "FAIL: $*"; exit 1; }

# 1. the command list
cmds=$(grep -ohE '^(static )?int cmd_[a-z]+\(int argc' src/main/*.c | sed -E 's/.*cmd_([a-z]+)\(.*/\1/' | sort -u)
[ "$(wc -w <<<"$cmds")" -ge 12 ] || fail "found only these commands in src/main: $cmds"
for how in "" help --help; do
	# shellcheck disable=SC2086
	out=$("$SHOAL" $how) || fail "shoal $how exits $?"
	for c in $cmds; do
		grep -qE "^  $c +[a-z]" <<<"$out" || fail "shoal $how does not list '$c' with a description:
$out"
	done
	! grep -qF '...' <<<"$out" || fail "shoal $how cuts something off with '...'"
done

# 2. every command's help
# the options an option list names: "  -m, --model MODEL" gives -m and --model
opts_of_help() { sed -nE 's/^ +((-[a-z]+), )?(--[a-z][a-z0-9-]*).*/\2 \3/p' | tr ' ' '\n' | grep . | sort -u; }
for c in $cmds; do
	h=$("$SHOAL" "$c" --help) || fail "shoal $c --help exits $?"
	[ "$h" = "$("$SHOAL" help "$c")" ] || fail "shoal help $c differs from shoal $c --help"
	grep -q "^usage: shoal $c" <<<"$h" || fail "shoal $c --help has no usage line: $h"
	! grep -qF '...' <<<"$h" || fail "shoal $c --help cuts something off with '...'"
	# each option line has a meaning (on the line, or on the next when the option is long)
	awk '/^ +-/ { if (NF < 3 && (getline nxt) > 0 && nxt !~ /^          +[^ ]/) { print; bad = 1 } } END { exit bad }' <<<"$h" ||
		fail "shoal $c --help has an option without a meaning"
	listed=$(opts_of_help <<<"$h")
	# the options the source names: the files that define this command
	src=$(grep -lE "^(static )?int cmd_$c\(int argc" src/main/*.c)
	helps="$("$SHOAL" help)"$'\n'
	for other in $(grep -ohE '^(static )?int cmd_[a-z]+\(int argc' $src | sed -E 's/.*cmd_([a-z]+)\(.*/\1/'); do
		helps="$helps$("$SHOAL" "$other" --help)"$'\n'
	done
	for lit in $(grep -ohE '"--?[a-z][a-z0-9-]*"' $src | tr -d '"' | sort -u); do
		grep -qE -- "(^|[ ,])$lit( |,|$)" <<<"$helps" || fail "$src accepts $lit, which no --help of its commands lists"
	done
	# every listed option is accepted: with a value and --help after it, the parser reaches --help
	for o in $listed; do
		[ "$o" = --help ] || [ "$o" = -h ] && continue
		err=$("$SHOAL" "$c" "$o" 1 --help 2>&1 >/dev/null || true)
		! grep -q "unknown option" <<<"$err" || fail "shoal $c --help lists $o, which it does not accept: $err"
	done
	echo "$c: $(wc -w <<<"$listed") options documented"
done

# 3. version
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
for v in --version version; do
	out=$("$SHOAL" $v)
	grep -qE '^shoal [0-9]+\.[0-9]+\.[0-9]+ \(commit ' <<<"$out" || fail "shoal $v: $out"
	[ "$commit" = unknown ] || grep -qF "$commit" <<<"$out" || fail "shoal $v does not name commit $commit: $out"
	grep -qE '^kernels: (avx512|avx2|neon|ref) ' <<<"$out" || fail "shoal $v names no kernels: $out"
done

# 4. errors that name what is wrong
expect_err() { # pattern command...
	local pat=$1 err
	shift
	if err=$("$SHOAL" "$@" 2>&1 >/dev/null); then fail "shoal $* succeeded"; fi
	grep -qF -- "$pat" <<<"$err" || fail "shoal $*: '$err' does not say '$pat'"
}
expect_err "synth: --vocab VOCAB.gguf is required" synth --preset test-tiny --type f16 -o /dev/null
expect_err "run: unknown option '--prot'" run -m models/stories260K.gguf --prot 1
expect_err "run: --port needs a value" run -m models/stories260K.gguf --port
expect_err "run: -m/--model MODEL is required" run --port 0
expect_err "run: --port: 'x' is not an integer" run -m models/stories260K.gguf --port x
expect_err "info: a model is required" info
expect_err "unknown command 'nope'" nope

# 5. README: the block of `build/shoal COMMAND ...` lines under "## Commands"
readme=$(awk '/^## Commands/ { on = 1; next } /^## / { on = 0 } on' README.md)
for c in $cmds; do
	[ "$c" = help ] || [ "$c" = version ] && continue
	syn=$(awk -v c="$c" '$1 == "build/shoal" { on = ($2 == c) } $1 != "build/shoal" && !/^      / { on = 0 } on' <<<"$readme")
	[ -n "$syn" ] || fail "README has no synopsis of $c"
	want=$("$SHOAL" "$c" --help | sed -nE 's/^ +(-[a-z]+, )?(--[a-z][a-z0-9-]*).*/\2/p' | { grep -vx -- --help || true; } | tr '\n' ' ')
	got=$({ grep -oE -- '(^|[ [(|])--?[a-z][a-z0-9-]*' <<<"$syn" || true; } | { grep -oE -- '--?[a-z][a-z0-9-]*' || true; } |
		sort -u | tr '\n' ' ') # rm has no options
	# the help lists long names with their aliases; the README may use either spelling
	for o in $want; do
		alias=$("$SHOAL" "$c" --help | grep -E -- "^ +-[a-z]+, $o( |$)" | sed -E 's/^ +(-[a-z]+),.*/\1/' || true)
		grep -qwE -- "$o${alias:+|$alias}" <<<"$got" || fail "README's synopsis of $c lacks $o"
	done
	for o in $got; do
		grep -qE -- "^ +($o,|(-[a-z]+, )?$o( |$))" <<<"$("$SHOAL" "$c" --help)" || fail "README's synopsis of $c has $o, which shoal $c --help does not list"
	done
done
echo "every command documented; README matches"
