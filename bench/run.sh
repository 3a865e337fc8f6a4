#!/usr/bin/env bash
# The README's benchmark command: builds the release binary and runs every benchmark in bench/.
# Benchmarks measure; they never fail on a number (targets are in the README).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh release >/dev/null
echo "== webhook -> knative"
bench/webhook_knative.sh
echo "== vCenter simulator -> router -> sink"
tools/build-vcsim.sh
bench/vcenter.sh
echo "== fake Horizon -> router -> sink"
bench/horizon.sh
echo "== HA takeover (two routers, fake Kubernetes API)"
bench/ha_takeover.sh
echo "== Lua script chain"
build/bench/bench_lua_chain
echo "== webhook -> EventBridge"
bench/webhook_eventbridge.sh
echo "== webhook -> OpenFaaS (1 and 3 functions) beside knative"
bench/webhook_openfaas.sh
echo "== SigV4 signing"
build/bench/bench_sigv4_sign
echo "== EventBridge event patterns (filters)"
build/bench/bench_pattern
