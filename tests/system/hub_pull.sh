#!/usr/bin/env bash
# Models by name (node --test tests/system/node/hub_pull.test.mjs): shoal pull, ls, rm, show and
# run ORG/REPO:QUANT against the hub stand-in (tests/system/hub/hub.mjs): resume after a cut or a
# kill, 429 Retry-After, corruption, gating, unknown quants, two pulls at once, the cache layout,
# offline use, a full disk (root: a 2 MiB tmpfs), a split set.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec --test-concurrency=1 hub_pull.test.mjs
