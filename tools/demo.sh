#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs a live demo against a
# simulated vCenter. govmomi's vCenter simulator (tests/peers/vcsim) plays the vCenter; a loop powers
# its VMs off and on (and posts an EventEx now and then) every ~2 s; event-router's vcenter source
# streams the real vSphere events it records, runs them through two of the shipped scripts, and
# delivers them as CloudEvents to a local sink that prints each one live.
# Ctrl-C stops all of it.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
tools/build.sh release >/dev/null
echo "demo: building the vCenter simulator (the first time takes about half a minute)"
tools/build-vcsim.sh

work=$(mktemp -d /tmp/event-router-demo.XXXXXX)
pids=()
stopping=0
interrupted=0
cleanup() {
  stopping=1
  trap - INT TERM EXIT
  # A Ctrl-C reaches the whole process group: give the children a moment to stop on their own
  # (a second signal would make event-router skip draining its deliveries).
  if ((interrupted)); then
    for _ in $(seq 20); do
      alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
  fi
  # Newest first: the generator stops, the router drains into the sink, then the sink and vCenter go.
  local i pid
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  kill -TERM $(jobs -p) 2>/dev/null || true # the generator's pending sleep
  wait 2>/dev/null || true
  rm -rf "$work"
  echo "demo: stopped"
}
trap cleanup EXIT
trap 'interrupted=1; exit 130' INT
trap 'exit 143' TERM

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
sink_port=$(free_port)
metrics_port=$(free_port)

# The simulator prints one JSON line ({"url","username","password","control",...}) once it listens.
# It runs in its own session so a Ctrl-C reaches it only through cleanup, after event-router has
# stopped (no "vCenter unreachable" at the end); its stdin is a pipe this script holds, so it also
# exits should the script die without its trap (-lifetime is the last safety net).
mkfifo "$work/vcsim.stdin"
setsid build-vcsim/vcsim -exit-on-stdin-eof -lifetime 8h <"$work/vcsim.stdin" >"$work/vcsim.json" 2>"$work/vcsim.log" &
pids+=($!)
exec 3>"$work/vcsim.stdin"
for _ in $(seq 150); do
  [ -s "$work/vcsim.json" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/vcsim.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/vcsim.json" ] || { echo "demo: the simulator did not start" >&2; cat "$work/vcsim.log" >&2; exit 1; }
ready_field() { node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]);console.log(r[process.argv[2]])' "$work/vcsim.json" "$1"; }
vc_url=$(ready_field url)
vc_user=$(ready_field username)
vc_password=$(ready_field password)
control=$(ready_field control)

write_config() { # $1: extra top-level YAML
  cat >"$work/config.yaml" <<YAML
apiVersion: event-router.vmware.com/v1alpha1
kind: RouterConfig
metadata:
  name: demo
eventProvider:
  type: vcenter
  name: demo-vcenter
  vcenter:
    address: "$vc_url"
    insecureSSL: true
    checkpoint: true
    checkpointDir: "$work/checkpoints"
    auth:
      type: basic_auth
      basicAuth:
        username: "$vc_user"
        password: "$vc_password"
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
$1
YAML
}
# Two shipped scripts at work, in a scripts folder of the demo's own: 10-drop-noise drops the
# login/logout events every vCenter session posts, and 50-enrich-tags adds a `vmtags` extension
# from a tag table written here for the simulator's VMs (the sink prints it after the event id).
mkdir -p "$work/scripts/lib"
cp scripts/lib/vcenter.lua "$work/scripts/lib/"
cp scripts/10-drop-noise.disabled.lua "$work/scripts/10-drop-noise.lua"
cp scripts/50-enrich-tags.disabled.lua "$work/scripts/50-enrich-tags.lua"
cat >"$work/scripts/lib/tags.lua" <<'LUA'
-- The demo's tag table: the simulator's VMs by name.
return {
  by_name = {
    DC0_H0_VM0 = { "env:production", "owner:web-team" },
    DC0_H0_VM1 = { "env:production", "owner:dba-team" },
    DC0_C0_RP0_VM0 = { "env:test", "owner:app-team" },
    DC0_C0_RP0_VM1 = { "env:test", "owner:qa-team" },
  },
}
LUA
write_config "scripts:
  dir: $work/scripts
console:
  socket: $work/console.sock"
scripts_note="scripts 10-drop-noise (no login/logout events) and 50-enrich-tags (vmtags=...) at work"

node tests/peers/sink.mjs --port "$sink_port" --print 3>&- &
pids+=($!)
build/event-router -config "$work/config.yaml" 3>&- &
router_pid=$!
pids+=($router_pid)
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$metrics_port/readyz" >/dev/null 2>&1 && break
  kill -0 "$router_pid" 2>/dev/null || { echo "demo: event-router exited" >&2; exit 1; }
  sleep 0.1
done
echo "demo: event-router follows the simulated vCenter at $vc_url ($scripts_note);" \
  "stats at http://127.0.0.1:$metrics_port/stats. Ctrl-C stops."
echo "demo: look inside from another terminal: build/event-router console --socket $work/console.sock"
echo "demo:   then try: tail          (each event's path through the scripts, live; Enter stops)"
echo "demo:   or:       = stats       (Lua in the console's sandbox)"

# The generator: one VM power change every ~2 s, an EventEx every fourth round.
vms=(DC0_H0_VM0 DC0_H0_VM1 DC0_C0_RP0_VM0 DC0_C0_RP0_VM1)
declare -A on=([DC0_H0_VM0]=1 [DC0_H0_VM1]=1 [DC0_C0_RP0_VM0]=1 [DC0_C0_RP0_VM1]=1)
round=0
while ((!stopping)); do
  vm=${vms[$((round % ${#vms[@]}))]}
  if ((on[$vm])); then action=poweroff; on[$vm]=0; else action=poweron; on[$vm]=1; fi
  curl -fsS -X POST "$control/vm/$action?name=$vm" >/dev/null 3>&- || echo "demo: $action $vm failed" >&2
  if ((round % 4 == 3)); then
    curl -fsS -X POST -H 'content-type: application/json' \
      -d "{\"kind\":\"EventEx\",\"eventTypeId\":\"com.example.demo.heartbeat\",\"message\":\"demo round $round\",\"vm\":\"$vm\"}" \
      "$control/event/post" >/dev/null || echo "demo: EventEx failed" >&2
  fi
  round=$((round + 1))
  kill -0 "$router_pid" 2>/dev/null || { echo "demo: event-router exited" >&2; exit 1; }
  sleep 2 3>&- &
  wait $! || true
done
