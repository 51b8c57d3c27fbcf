#!/usr/bin/env bash
# Installs every build and test dependency of shoal (Debian 12). Idempotent: a package that is
# already installed is not fetched again, and nothing runs when everything is present.
set -euo pipefail

PKGS="build-essential clang libclang-rt-14-dev pkg-config libcriterion-dev libjansson-dev libpcre2-dev
libzmq3-dev libsodium-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev"

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
