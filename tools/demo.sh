#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job on an
# embedded default. Until the vCenter source lands, the default is the webhook source: a generator
# posts VEBA-shaped vCenter events (VM power on/off, ...) to event-router's webhook, and
# event-router delivers them as CloudEvents to a local sink that prints each one live.
# Ctrl-C stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh release >/dev/null

work=$(mktemp -d /tmp/event-router-demo.XXXXXX)
pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup INT TERM EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
webhook_port=$(free_port); sink_port=$(free_port); metrics_port=$(free_port)

cat >"$work/config.yaml" <<YAML
apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: demo
eventProvider:
  type: webhook
  name: demo-webhook
  webhook:
    bindAddress: "127.0.0.1:$webhook_port"
    path: /webhook
eventProcessor:
  type: knative
  name: demo-sink
  knative:
    encoding: binary
    destination:
      uri: "http://127.0.0.1:$sink_port/"
metricsProvider:
  type: default
  name: demo-metrics
  default:
    bindAddress: "127.0.0.1:$metrics_port"
deadLetter:
  dir: $work/deadletter
YAML

node tests/peers/sink.mjs --port "$sink_port" --print &
pids+=($!)
build/event-router -config "$work/config.yaml" &
pids+=($!)
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$metrics_port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "demo: event-router is up; stats at http://127.0.0.1:$metrics_port/stats (Ctrl-C stops)"
node tests/peers/send.mjs --url "http://127.0.0.1:$webhook_port/webhook" --rate 2 --count 0 &
pids+=($!)
wait -n "${pids[@]}"
