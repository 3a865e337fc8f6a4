#!/usr/bin/env bash
# vCenter source benchmark: govmomi's vCenter simulator -> event-router -> a fast local sink.
# Events/s over a burst of 10,000 posted events, CreatedTime-to-sink latency (p50/p99) at a steady
# 100 events/s for 20 s, and the router's CPU time per event. Measures; never fails on a number.
#   bench/vcenter.sh [--count N] [--rate R] [--seconds S] [--ceiling-rates R1,R2] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh release >/dev/null
tools/build-vcsim.sh
exec node bench/vcenter_bench.mjs "$@"
