#!/usr/bin/env bash
# Installs what shoal needs on Debian 12, with apt-get and npm. Idempotent: what is installed is not
# fetched again, and nothing runs when everything is present.
#   scripts/install-deps.sh --run   building and running a node (`make`, `make run`): the C libraries,
#                                   node and the npm packages of web/ (the web UI, bundled at build)
#   scripts/install-deps.sh         that, plus every test's tools (`make test`, `make san`, `make bench`):
#                                   clang and its sanitizer runtime, Criterion, the system tests' command
#                                   line tools, node with the npm packages of tests/system/node (the
#                                   official openai client), pinned by its package-lock.json, and of
#                                   tests/system/web (playwright-core) with Debian's chromium: the web
#                                   UI's browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_PKGS="build-essential pkg-config libjansson-dev libpcre2-dev libzmq3-dev libsodium-dev libmicrohttpd-dev
libcurl4-openssl-dev libssl-dev"
TEST_PKGS="clang libclang-rt-14-dev libcriterion-dev curl jq bc git iproute2 util-linux chromium"

pkgs=$RUN_PKGS
[ "${1:-}" = --run ] || pkgs="$pkgs $TEST_PKGS"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
	echo "install-deps: installing $*"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	apt_install nodejs npm
fi
# the npm packages of DIR, pinned by its package-lock.json; installed again when the lock file is
# not the one node_modules was installed from
npm_ci() {
	local lock=$1/package-lock.json stamp=$1/node_modules/.shoal-package-lock.json
	if ! cmp -s "$lock" "$stamp"; then
		echo "install-deps: npm ci in $1"
		(cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
		cp "$lock" "$stamp"
	fi
}
npm_ci web # the web UI's libraries and its bundler, built into the binary
[ "${1:-}" = --run ] && exit 0

npm_ci tests/system/node
npm_ci tests/system/web # playwright-core, which drives Debian's chromium in the web UI's browser tests
