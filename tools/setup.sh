#!/usr/bin/env bash
# Installs what event-router needs to build, test and run its demo on Debian 12, only what is
# missing: Debian packages (apt-get, through sudo when not root) and the npm packages of the test
# peers (the official CloudEvents SDK, AWS's SigV4 signer). Safe to run again.
# clang and libclang-rt-dev (libFuzzer, sanitizer runtimes) build the fuzz targets (tools/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# Libraries are checked as Debian packages; tools by command, because a machine may carry its own
# build of them (Node.js from elsewhere, for example, with an npm that Debian's would conflict with).
packages=(build-essential pkg-config
  libuv1-dev libcurl4-openssl-dev libcjson-dev liblua5.4-dev libyaml-dev libxml2-dev libssl-dev
  libhttp-parser-dev libedit-dev lua-busted golang-go golang-github-vmware-govmomi-dev
  libclang-rt-dev)
declare -A tool_packages=([cmake]=cmake [clang-format]=clang-format [node]=nodejs [npm]=npm
  [wrk]=wrk [curl]=curl [busted]=lua-busted [go]=golang-go [tmux]=tmux [openssl]=openssl
  [clang]=clang)

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
