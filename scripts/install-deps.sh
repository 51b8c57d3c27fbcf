#!/usr/bin/env bash
# Installs every build and test dependency of shoal (Debian 12). Idempotent: a package that is
# already installed is not fetched again, and nothing runs when everything is present.
set -euo pipefail

PKGS="build-essential clang libclang-rt-14-dev pkg-config libcriterion-dev libjansson-dev libpcre2-dev
libzmq3-dev libsodium-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev curl jq"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# node and the system tests' npm packages (the official openai client), pinned by
# tests/system/node/package-lock.json; installed only when missing
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "install-deps: installing nodejs npm"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
NODE_TESTS="$(cd "$(dirname "$0")/.." && pwd)/tests/system/node"
if [ ! -d "$NODE_TESTS/node_modules" ]; then
	echo "install-deps: npm ci in tests/system/node"
	(cd "$NODE_TESTS" && npm ci --no-audit --no-fund --loglevel=error)
fi
