#!/usr/bin/env bash
# High-availability takeover benchmark: two routers electing on one Lease through the fake
# Kubernetes API, the vCenter simulator streaming ~100 events/s. Each trial kills the leader
# (kill -9, or SIGTERM with --term) and measures leader death -> first event delivered by the new
# leader; the killed router is started again as the standby. Prints every trial and p50/max.
# Measures; never fails on a number.
#   bench/ha_takeover.sh [--trials 10] [--term] [--lease 3 --renew 2 --retry 0.5]
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh release >/dev/null
tools/build-vcsim.sh
exec node bench/ha_takeover.mjs "$@"
