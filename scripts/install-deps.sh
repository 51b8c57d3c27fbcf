#!/usr/bin/env bash
# Installs what shoal needs on Debian 12, with apt-get and npm. Idempotent: what is installed is not
# fetched again, and nothing runs when everything is present.
#   scripts/install-deps.sh --run   building and running a node (`make`, `make run`)
#   scripts/install-deps.sh         that, plus every test's tools (`make test`, `make san`, `make bench`):
#                                   clang and its sanitizer runtime, Criterion, the system tests' command
#                                   line tools, node with the npm packages of tests/system/node (the
#                                   official openai client), pinned by its package-lock.json
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_PKGS="build-essential pkg-config libjansson-dev libpcre2-dev libzmq3-dev libsodium-dev libmicrohttpd-dev
libcurl4-openssl-dev libssl-dev"
TEST_PKGS="clang libclang-rt-14-dev libcriterion-dev curl jq bc git iproute2 util-linux"

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
[ "${1:-}" = --run ] && exit 0

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	apt_install nodejs npm
fi
# installed again when package-lock.json is not the one node_modules was installed from
lock=tests/system/node/package-lock.json stamp=tests/system/node/node_modules/.shoal-package-lock.json
if ! cmp -s "$lock" "$stamp"; then
	echo "install-deps: npm ci in tests/system/node"
	(cd tests/system/node && npm ci --no-audit --no-fund --loglevel=error)
	cp "$lock" "$stamp"
fi
