#!/usr/bin/env bash
# The hub stand-in (tests/system/hub/hub.mjs) tested on its own, plain HTTP and the official
# @huggingface/hub client against it (node --test): tests/system/hub/hub.test.mjs. The client is
# installed by scripts/install-deps.sh into tests/system/node/node_modules.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node/node_modules/@huggingface/hub ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec hub/hub.test.mjs
