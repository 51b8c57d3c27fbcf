#!/usr/bin/env bash
# logprobs (against `shoal logits`), logit_bias and the penalties through the official `openai` npm
# client against a real `shoal run` on stories260K: tests/system/node/logprobs.test.mjs.
set -euo pipefail
cd "$(dirname "$0")/node"
[ -d node_modules/openai ] || { echo "node_modules missing: run scripts/install-deps.sh"; exit 1; }
node --test --test-reporter=spec logprobs.test.mjs
