#!/usr/bin/env bash
# The README's benchmark command: builds the release binary and runs every benchmark in bench/.
# Benchmarks measure; they never fail on a number (targets are in the README).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh release >/dev/null
bench/webhook_knative.sh "$@"
