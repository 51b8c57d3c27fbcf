#!/usr/bin/env bash
# A new user's first minutes: a clone of this repository in an empty directory (nothing beside it,
# so no ../shared) builds, and `make run` there serves a completion within 60 s of starting and
# prints where to go: http://localhost:8642/ and the LAN address, never 0.0.0.0; / answers; and,
# since no other node is on its LAN, it says so once after 10 s, naming its interface and --peers.
#
# The clone is of the working tree as it is (committed or not: its files go into a commit object
# under a temporary ref, removed at exit), so the test checks the code being tested. `make run`
# runs inside a network namespace of its own (loopback and one veth pair with 10.213.9.1/24), so
# its beacons never reach the machine's LAN. Needs git, and root or user namespaces (else SKIP).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
fail() { echo "FAIL: $*"; [ -f "${LOG:-}" ] && tail -20 "$LOG"; exit 1; }

command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1 || { echo "SKIP: not a git checkout"; exit 77; }
if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
	NETNS=(unshare --net)
elif unshare --user --map-root-user --net true 2>/dev/null; then
	NETNS=(unshare --user --map-root-user --net)
else
	echo "SKIP: needs root or user namespaces (for a network namespace)"
	exit 77
fi

T=$(mktemp -d /tmp/shoal-fresh.XXXXXX)
export XDG_STATE_HOME="$T/state" # the node's id and measured speeds: never under ~
REF="refs/shoal-test/fresh-$$"
cleanup() {
	git -C "$repo" update-ref -d "$REF" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

# the working tree (tracked files and new ones git does not ignore) as a commit, without touching
# the index or HEAD of this checkout
idx="$T/index"
GIT_INDEX_FILE="$idx" git read-tree HEAD
GIT_INDEX_FILE="$idx" git add -A .
tree=$(GIT_INDEX_FILE="$idx" git write-tree)
commit=$(git commit-tree "$tree" -p HEAD -m "the working tree under test")
git update-ref "$REF" "$commit"
rm -f "$idx"

mkdir "$T/empty"
C="$T/empty/shoal"
git clone -q --no-checkout "$repo" "$C"
git -C "$C" fetch -q origin "$REF"
git -C "$C" checkout -q FETCH_HEAD
[ "$(ls -A "$T/empty")" = shoal ] || fail "the clone's directory holds more than the clone"
[ ! -e "$T/empty/shared" ] || fail "../shared exists beside the clone"

start=$(date +%s)
make -C "$C" >"$T/build.log" 2>&1 || { tail -30 "$T/build.log"; fail "the clone does not build"; }
echo "built in $(( $(date +%s) - start )) s"
"$C/build/shoal" --version | grep -qF "commit ${commit:0:12}" || fail "shoal --version: $("$C/build/shoal" --version)"

# inside the namespace: lo, a veth pair with a LAN address, `make run` as a user types it
LOG="$T/run.log"
cat >"$T/inside.sh" <<'EOF'
set -eu
ip link set lo up
ip link add shoal-lan type veth peer name shoal-peer
ip addr add 10.213.9.1/24 brd + dev shoal-lan
ip link set shoal-lan up
ip link set shoal-peer up
cd "$1"
t0=$(date +%s.%N)
setsid make run >"$2" 2>&1 &
pid=$!
answer=""
for i in $(seq 1 600); do
	if answer=$(curl -sf --max-time 5 http://localhost:8642/v1/completions -H 'Content-Type: application/json' \
		-d '{"prompt":"Once upon a time","max_tokens":16,"temperature":0}'); then break; fi
	kill -0 "$pid" 2>/dev/null || { echo "make run exited"; exit 1; }
	sleep 0.1
done
printf 'served after %.2f s\n' "$(echo "$(date +%s.%N) - $t0" | bc)"
echo "answer: $answer"
echo "index: $(curl -s -o /dev/null -w '%{http_code} %{content_type}' -H 'Accept: text/html' http://localhost:8642/)"
# alone on its LAN, the node says so after 10 s
for i in $(seq 1 200); do
	grep -q "no other node heard" "$2" && break
	sleep 0.1
done
kill -TERM -- -"$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
EOF
out=$("${NETNS[@]}" bash "$T/inside.sh" "$C" "$LOG") || fail "$out"
echo "$out"
secs=$(sed -nE 's/^served after ([0-9.]+) s$/\1/p' <<<"$out")
[ -n "$secs" ] || fail "no completion: $out"
[ "$(echo "$secs <= 60" | bc)" = 1 ] || fail "the first completion took $secs s"
jq -e '.choices[0].text | length > 0' <<<"$(sed -n 's/^answer: //p' <<<"$out")" >/dev/null || fail "empty completion: $out"
grep -qE '^index: 200 text/html' <<<"$out" || fail "GET / in a browser: $(grep '^index:' <<<"$out")"
grep -qF "http://localhost:8642/" "$LOG" || fail "make run printed no http://localhost:8642/"
grep -qF "http://localhost:8642/v1" "$LOG" || fail "make run printed no API base"
grep -qF "http://10.213.9.1:8642/" "$LOG" || fail "make run printed no LAN address"
! grep -qF "0.0.0.0" "$LOG" || fail "make run printed 0.0.0.0"
alone=$(grep "no other node heard" "$LOG") || fail "a node alone on its LAN did not say so"
grep -qF "shoal-lan (10.213.9.1, broadcast 10.213.9.255)" <<<"$alone" || fail "the notice names no interface: $alone"
grep -qF -- "--peers HOST:8643" <<<"$alone" || fail "the notice gives no --peers hint: $alone"
[ "$(grep -c "no other node heard" "$LOG")" = 1 ] || fail "the notice came more than once"
echo "$alone"
echo "a fresh clone serves within $secs s of make run"
