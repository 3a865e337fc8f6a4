#!/usr/bin/env bash
# Benchmark: webhook -> knative through the release binary to a minimal local sink, once with the
# disk queue (the default: a 202 waits for the group commit) and once with the memory queue.
# Reports for each sustained events/s (wrk, keep-alive, binary-mode CloudEvents), p50/p99
# send-to-receipt latency at a constant 5,000 events/s, the 202s' own latency and the disk queue's
# commits over 10 ms in that run, fsyncs per second and per event, the router's peak RSS, wrk
# straight at the sink as the ceiling of this machine, and the disk's own floor: a minimal group
# commit (bench/group_commit_reference.c) at the same rate on the same file system.
# The sink is bench/fast_sink.c (built next to the router as bench/fast_sink) when present, else
# the node bench/fast_sink.mjs, which saturates a core at a quarter of the C sink's rate. Prints a
# table and writes bench/results/latest.txt. Runs in under 3 minutes. The latency generator is
# likewise bench/rate_gen.c when built, else rate_gen.mjs.
#   QUEUES=disk bench/webhook_knative.sh   runs one queue type only
#   SYNC_INTERVAL=2ms ...                the disk queue's queue.syncInterval (default: the router's, 0)
#   SINK=node bench/webhook_knative.sh   forces the node sink and generator
#   PROCESSOR=eventbridge ...            webhook -> EventBridge (bench/webhook_eventbridge.sh):
#                                        the C sink answers ListRules and PutEvents and counts
#                                        entries; EB_MAX_ENTRIES=1 turns batching off
#   PROCESSOR=openfaas FUNCTIONS=3 ...   webhook -> OpenFaaS sync (bench/webhook_openfaas.sh):
#                                        the C sink is the gateway, FUNCTIONS match every event
#   bench/webhook_knative.sh [LOAD_SECONDS=20] [LATENCY_RATE=5000] [LATENCY_SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
load_seconds=${1:-20}
latency_rate=${2:-5000}
latency_seconds=${3:-10}
bin=${EVENT_ROUTER_BIN:-build/event-router} # override to bench another build

command -v wrk >/dev/null || { echo "bench: wrk is missing (apt-get install wrk, or tools/setup.sh)" >&2; exit 1; }
[ -x "$bin" ] || tools/build.sh release

work=$(mktemp -d /tmp/event-router-bench.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
wait_http() { # URL: bounded wait for a 2xx answer
  for _ in $(seq 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "bench: $1 did not come up" >&2; return 1
}
# Waits (at most 15 s) until the sink's count stops moving: the router has drained its queue.
settle() {
  local last now
  last=$(sink_stat j.count)
  for _ in $(seq 60); do
    sleep 0.25
    now=$(sink_stat j.count)
    [ "$now" = "$last" ] && return 0
    last=$now
  done
}
sink_stat() { curl -fsS "http://127.0.0.1:$sink_port/stats" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log($1)})"; }

c_sink="$(dirname "$bin")/bench/fast_sink"
if [ "${SINK:-c}" != node ] && [ ! -x "$c_sink" ] && [ -f "$(dirname "$bin")/CMakeCache.txt" ]; then
  cmake --build "$(dirname "$bin")" --target fast_sink rate_gen >/dev/null
fi
functions=${FUNCTIONS:-1}
[ "${PROCESSOR:-knative}" = openfaas ] && export FAST_SINK_FUNCTIONS=$functions
if [ "${SINK:-c}" != node ] && [ -x "$c_sink" ]; then
  sink_name="C (bench/fast_sink.c)"
  "$c_sink" 0 >"$work/sink.port" &
else
  sink_name="node (bench/fast_sink.mjs)"
  node bench/fast_sink.mjs 0 >"$work/sink.port" &
fi
pids+=($!)
for _ in $(seq 50); do [ -s "$work/sink.port" ] && break; sleep 0.1; done
sink_port=$(cat "$work/sink.port")
processor=${PROCESSOR:-knative}
results_suffix=""; [ "$processor" = knative ] || results_suffix="-$processor"
case "$processor" in
  knative) processor_block="eventProcessor:
  type: knative
  name: sink
  knative:
    encoding: binary
    destination:
      uri: http://127.0.0.1:$sink_port/" ;;
  eventbridge)
    [ "$sink_name" = "C (bench/fast_sink.c)" ] || { echo "bench: EventBridge needs the C sink" >&2; exit 1; }
    processor_block="eventProcessor:
  type: aws_event_bridge
  name: sink
  awsEventBridge:
    region: us-east-1
    eventBus: default
    ruleARN: arn:aws:events:us-east-1:123456789012:rule/bench
    endpoint: http://127.0.0.1:$sink_port/
    batch: {maxEntries: ${EB_MAX_ENTRIES:-10}, maxDelay: 20ms}
    auth:
      type: aws_access_key
      awsAccessKeyAuth: {accessKey: AKIABENCHMARK0000001, secretKey: bench-secret-key-0123456789}" ;;
  openfaas)
    [ "$sink_name" = "C (bench/fast_sink.c)" ] || { echo "bench: OpenFaaS needs the C sink" >&2; exit 1; }
    results_suffix="-openfaas-$functions"
    processor_block="eventProcessor:
  type: openfaas
  name: sink
  openfaas:
    address: http://127.0.0.1:$sink_port
    async: false" ;;
  *) echo "bench: PROCESSOR must be knative, eventbridge or openfaas" >&2; exit 2 ;;
esac

fsyncs() { curl -fsS "http://127.0.0.1:$metrics_port/metrics" | awk '/^event_router_disk_queue_fsyncs_total / {print $2; f=1} END {if (!f) print 0}'; }
# "SLOW TOTAL": synced commits over 10 ms and all synced commits so far (disk queue histogram).
commit_counts() { curl -fsS "http://127.0.0.1:$metrics_port/metrics" | awk '
  /^event_router_disk_queue_commit_seconds_bucket\{le="0.01"\}/ {fast=$2}
  /^event_router_disk_queue_commit_seconds_count / {n=$2}
  END {printf "%d %d\n", n - fast, n}'; }

declare -A results
queues=${QUEUES:-disk memory}
for queue in $queues; do
  webhook_port=$(free_port)
  metrics_port=$(free_port)
  cat >"$work/config.yaml" <<YAML
apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: bench
eventProvider:
  type: webhook
  name: hook
  webhook:
    bindAddress: 127.0.0.1:$webhook_port
    path: /webhook
$processor_block
metricsProvider:
  type: default
  name: metrics
  default:
    bindAddress: 127.0.0.1:$metrics_port
deadLetter:
  dir: $work/deadletter
delivery:
  timeout: 5s
  connectTimeout: 1s
  retries: 3
  backoffInitial: 100ms
  backoffMax: 1s
  maxInFlight: ${MAX_IN_FLIGHT:-64}
queue:
  capacity: 4096
  type: $queue
  dir: $work/queue-$queue
${SYNC_INTERVAL:+  syncInterval: $SYNC_INTERVAL}
YAML

  "$bin" -config "$work/config.yaml" -log-level warn 2>"$work/router.log" &
  router_pid=$!
  pids+=("$router_pid")
  wait_http "http://127.0.0.1:$metrics_port/readyz" || { cat "$work/router.log" >&2; exit 1; }
  webhook="http://127.0.0.1:$webhook_port/webhook"

  echo "bench: $queue queue: sustained load, wrk ${load_seconds}s -> router" >&2
  before=$(sink_stat j.count)
  calls_before=$(sink_stat 'j.calls ?? 0')
  t0=$(date +%s.%N)
  wrk -t2 -c"${WRK_CONNECTIONS:-64}" -d"${load_seconds}s" -s "bench/${WRK_SCRIPT:-post_event.lua}" "$webhook" >"$work/wrk_router.txt"
  # Let the router drain what it took in (bounded), then count deliveries over the whole span.
  settle
  t1=$(date +%s.%N)
  delivered=$(( $(sink_stat j.count) - before ))
  calls=$(( $(sink_stat 'j.calls ?? 0') - calls_before ))
  calls_per_s=$(awk -v n="$calls" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
  per_call=$(awk -v n="$delivered" -v c="$calls" 'BEGIN {printf "%.1f", c ? n / c : 0}')
  wrk_router_rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk_router.txt")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$work/wrk_router.txt")
  # Deliveries are invocations for OpenFaaS: each event is one per matching function.
  per_event=1; [ "$processor" = openfaas ] && per_event=$functions
  sustained=$(awk -v n="$delivered" -v k="$per_event" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / k / (b - a)}')
  deliveries=$(awk -v n="$delivered" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')

  echo "bench: $queue queue: latency at ${latency_rate} events/s for ${latency_seconds}s" >&2
  curl -fsS -X POST "http://127.0.0.1:$sink_port/reset" >/dev/null
  fsyncs_before=$(fsyncs)
  read -r slow_before commits_before < <(commit_counts)
  c_gen="$(dirname "$bin")/bench/rate_gen"
  if [ "${SINK:-c}" != node ] && [ -x "$c_gen" ]; then
  gen_name="C (bench/rate_gen.c)"
  gen=$("$c_gen" "$webhook" "$latency_rate" "$latency_seconds")
  else
  gen_name="node (bench/rate_gen.mjs)"
  gen=$(node bench/rate_gen.mjs "$webhook" "$latency_rate" "$latency_seconds")
  fi
  settle
  p50=$(sink_stat 'j.latency.p50?.toFixed(2)')
  p99=$(sink_stat 'j.latency.p99?.toFixed(2)')
  measured=$(sink_stat j.latency.n)
  gen_failed=$(echo "$gen" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).failed))")
  fsync_count=$(( $(fsyncs) - fsyncs_before ))
  read -r slow_after commits_after < <(commit_counts)
  slow_commits="—"
  [ "$queue" = disk ] && slow_commits="$((slow_after - slow_before)) of $((commits_after - commits_before))"
  ack=$(echo "$gen" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log(j.ack_p99===undefined?'—':j.ack_p50.toFixed(2)+' / '+j.ack_p99.toFixed(2)+' / '+j.ack_max.toFixed(1))})")
  fsyncs_per_s=$(awk -v n="$fsync_count" -v s="$latency_seconds" 'BEGIN {printf "%.0f", n / s}')
  fsyncs_per_event=$(awk -v n="$fsync_count" -v e="$measured" 'BEGIN {printf "%.4f", e ? n / e : 0}')

  rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$router_pid/status")
  kill -TERM "$router_pid"
  wait "$router_pid" || echo "bench: router exited with $?" >&2
  results[$queue]="$sustained|${wrk_router_rps} (non-2xx: ${non2xx:-0})|$p50|$p99|$measured / $gen_failed|$fsyncs_per_s|$fsyncs_per_event|$((rss_kb / 1024)) MiB|$deliveries|$calls_per_s ($per_call entries/call)|$ack|$slow_commits"

done

# The disk's own floor, right after the router ran: a minimal group commit on the same file system
# at the same rate (bench/group_commit_reference.c). The disk queue's tail cannot beat this one's.
reference="—"
c_reference="$(dirname "$bin")/bench/group_commit_reference"
[ -x "$c_reference" ] || { [ -f "$(dirname "$bin")/CMakeCache.txt" ] && cmake --build "$(dirname "$bin")" --target group_commit_reference >/dev/null; }
if [ -x "$c_reference" ] && [[ " $queues " == *" disk "* ]]; then
  echo "bench: disk alone, minimal group commit at ${latency_rate}/s for ${latency_seconds}s" >&2
  reference=$("$c_reference" "$work" "$latency_rate" "$latency_seconds" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log(j.p50.toFixed(2)+' / '+j.p99.toFixed(2)+' / '+j.p999.toFixed(2)+' / '+j.max.toFixed(1)+' ms ('+j.syncs_per_s+' fdatasync/s)')})")
fi

echo "bench: ceiling, wrk 10s -> sink directly" >&2
wrk -t2 -c64 -d10s -s bench/post_event.lua "http://127.0.0.1:$sink_port/" >"$work/wrk_sink.txt"
sink_rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$work/wrk_sink.txt")

mkdir -p bench/results
row() { # LABEL FIELD: one line with the field of every queue type
  local label=$1 field=$2 line
  line=$(printf '%-44s' "$label")
  for queue in $queues; do line+=$(printf ' %-22s' "$(echo "${results[$queue]}" | cut -d'|' -f"$field")"); done
  echo "$line"
}
{
  case "$processor" in
    knative) echo "event-router bench: webhook -> knative (binary), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores" ;;
    eventbridge) echo "event-router bench: webhook -> EventBridge (batch.maxEntries ${EB_MAX_ENTRIES:-10}, SigV4), $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" ;;
    openfaas) echo "event-router bench: webhook -> OpenFaaS sync, $functions matching function(s) per event, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores" ;;
  esac
  header=$(printf '%-44s' "metric")
  for queue in $queues; do header+=$(printf ' %-22s' "$queue queue"); done
  echo "$header"
  row "sustained delivered events/s (wrk ${load_seconds}s)" 1
  row "webhook requests/s (wrk)" 2
  row "latency p50 at ${latency_rate}/s (ms)" 3
  row "latency p99 at ${latency_rate}/s (ms)" 4
  row "latency samples / generator failures" 5
  row "202 p50 / p99 / max at ${latency_rate}/s (ms)" 11
  row "commits over 10 ms at ${latency_rate}/s" 12
  row "fsyncs/s at ${latency_rate}/s" 6
  row "fsyncs per event at ${latency_rate}/s" 7
  row "router peak RSS (VmHWM)" 8
  [ "$processor" = openfaas ] && row "invocations/s" 9
  [ "$processor" = eventbridge ] && row "PutEvents calls/s (wrk ${load_seconds}s)" 10
  printf '%-44s %s\n' "sink / latency generator" "$sink_name / $gen_name"
  printf '%-44s %s\n' "ceiling: wrk -> sink directly (req/s)" "$sink_rps"
  [[ " $queues " == *" disk "* ]] && printf '%-44s %s\n' "disk alone: group commit p50/p99/p99.9/max" "$reference"
  if [ -n "${results[disk]:-}" ] && [ -n "${results[memory]:-}" ]; then
    printf '%-44s %s\n' "disk / memory sustained events/s" "$(awk -v a="${results[disk]%%|*}" -v b="${results[memory]%%|*}" 'BEGIN {printf "%.0f%%", 100 * a / b}')"
  fi
} | tee "bench/results/latest${results_suffix:-}.txt"
