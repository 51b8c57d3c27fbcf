#!/usr/bin/env bash
# The data the repository carries is what its READMEs say: every file of models/ and tests/data
# has the sha256 its SHA256SUMS lists, and every file there is listed.
set -euo pipefail
cd "$(dirname "$0")/../.."
for d in models tests/data; do
	(cd "$d" && sha256sum --quiet --strict -c SHA256SUMS) || { echo "FAIL: $d differs from its SHA256SUMS"; exit 1; }
	unlisted=$(cd "$d" && find . -type f ! -name SHA256SUMS ! -name README.md | sed 's|^\./||' | sort |
		comm -23 - <(awk '{print $2}' SHA256SUMS | sort))
	[ -z "$unlisted" ] || { echo "FAIL: $d has files not in SHA256SUMS: $unlisted"; exit 1; }
done
echo "models/ and tests/data match their SHA256SUMS ($(cat models/SHA256SUMS tests/data/SHA256SUMS | wc -l) files)"
