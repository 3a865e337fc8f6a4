#!/usr/bin/env bash
# Benchmark: webhook -> EventBridge through the release binary to bench/fast_sink.c answering
# PutEvents: delivered entries/s (= PutEvents calls/s while each event is its own call), p50/p99
# at a fixed rate, peak RSS; SigV4 signing included. Same arguments as webhook_knative.sh;
# writes bench/results/latest-eventbridge.txt.
set -euo pipefail
PROCESSOR=eventbridge exec "$(dirname "$0")/webhook_knative.sh" "$@"
