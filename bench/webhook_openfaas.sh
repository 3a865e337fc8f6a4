#!/usr/bin/env bash
# Benchmark: webhook -> OpenFaaS sync through the release binary to bench/fast_sink.c acting as a
# fast local gateway, with 1 and with 3 functions matching every event, and the Knative path in
# the same run for comparison: events/s, invocations/s, p50/p99 at a fixed rate, peak RSS.
# Same arguments as webhook_knative.sh; writes bench/results/latest-openfaas.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
row() { awk -F'  +' -v key="$2" '$1 == key {print $2}' "$1"; }
bench/webhook_knative.sh "${args[@]}" >/dev/null
PROCESSOR=openfaas FUNCTIONS=1 bench/webhook_knative.sh "${args[@]}" >/dev/null
PROCESSOR=openfaas FUNCTIONS=3 bench/webhook_knative.sh "${args[@]}" >/dev/null
k=bench/results/latest.txt o1=bench/results/latest-openfaas-1.txt o3=bench/results/latest-openfaas-3.txt
load=$(grep -o 'wrk [0-9]*s' "$o1" | head -1)
rate=$(grep -o 'p50 at [0-9]*/s' "$o1" | head -1 | cut -d' ' -f3)
{
  echo "event-router bench: webhook -> OpenFaaS sync vs Knative, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
  printf '%-34s %12s %14s %14s\n' metric knative "openfaas x1" "openfaas x3"
  for key in "sustained delivered events/s ($load)" "invocations/s" "latency p50 at $rate (ms)" \
             "latency p99 at $rate (ms)" "router peak RSS (VmHWM)"; do
    label=${key/sustained delivered /}
    printf '%-34s %12s %14s %14s\n' "$label" "$(row "$k" "$key")" "$(row "$o1" "$key")" "$(row "$o3" "$key")"
  done
  kn=$(row "$k" "sustained delivered events/s ($load)")
  of=$(row "$o1" "sustained delivered events/s ($load)")
  awk -v a="$of" -v b="$kn" 'BEGIN {printf "%-34s %12s\n", "openfaas x1 / knative", sprintf("%.0f%%", 100 * a / b)}'
} | tee bench/results/latest-openfaas.txt
