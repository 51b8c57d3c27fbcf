#!/usr/bin/env bash
# The web UI in a real browser: tests/system/web/ui.test.mjs (node --test), playwright-core driving
# Debian's chromium headless against real `shoal run` nodes on stories260K (chat, Stop, reload,
# sanitized markdown, a 3-node cluster with a node killed, a pull from the hub stand-in, the API key).
# playwright-core and chromium are installed by scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/web"
[ -d node_modules/playwright-core ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "chromium missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec ui.test.mjs
