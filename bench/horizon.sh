#!/usr/bin/env bash
# Horizon source benchmark: the fake Horizon server (tests/peers/horizon.mjs) -> event-router ->
# a fast local sink. Backlog drain events/s from a checkpoint, event-time-to-sink latency
# (p50/p99) at a steady rate, and the router's CPU time per event. Measures; never fails on a number.
#   bench/horizon.sh [--backlog N] [--rate R] [--seconds S] [--json]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh release >/dev/null
exec node bench/horizon_bench.mjs "$@"
