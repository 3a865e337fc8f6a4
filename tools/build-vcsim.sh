#!/bin/sh
# Builds the vCenter simulator test peer (tests/peers/vcsim) into
# build-vcsim/vcsim, offline, from Debian's golang-go and
# golang-github-vmware-govmomi-dev. Silent on success; skips the build when
# the binary is newer than its sources.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tests/peers/vcsim"
out_dir="$root/build-vcsim"
out="$out_dir/vcsim"
gopath=${VCSIM_GOPATH:-/usr/share/gocode}

if ! command -v go >/dev/null 2>&1; then
    echo "build-vcsim: go not found (apt-get install golang-go golang-github-vmware-govmomi-dev)" >&2
    exit 1
fi
if [ ! -d "$gopath/src/github.com/vmware/govmomi/simulator" ]; then
    echo "build-vcsim: govmomi not found under $gopath (apt-get install golang-github-vmware-govmomi-dev)" >&2
    exit 1
fi

if [ -x "$out" ] && [ -z "$(find "$src" "$0" -newer "$out" -type f 2>/dev/null)" ]; then
    exit 0
fi

mkdir -p "$out_dir"
# GOPATH mode: the peer is outside GOPATH, so it is built by directory path
# and its imports resolve from Debian's gocode tree; no module download.
cd "$root"
GOPATH="$gopath" GO111MODULE=off GOFLAGS= GOCACHE="${GOCACHE:-$out_dir/gocache}" \
    go build -o "$out.tmp" ./tests/peers/vcsim
mv "$out.tmp" "$out"
