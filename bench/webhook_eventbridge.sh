#!/usr/bin/env bash
# Benchmark: webhook -> EventBridge through the release binary to bench/fast_sink.c answering
# ListRules and PutEvents: delivered entries/s and PutEvents calls/s, p50/p99 at a fixed rate,
# peak RSS; SigV4 signing included. Same arguments as webhook_knative.sh; EB_MAX_ENTRIES=1 (batching
# off) or 2..10 (default 10). Writes bench/results/latest-eventbridge.txt.
set -euo pipefail
PROCESSOR=eventbridge exec "$(dirname "$0")/webhook_knative.sh" "$@"
