#!/bin/sh
# Builds the vCenter simulator test peer (tests/peers/vcsim) into
# build-vcsim/vcsim and the reference follower of bench/vcenter.sh
# (tests/peers/vcfollow) into build-vcsim/vcfollow, offline, from Debian's golang-go and
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

build() { # build SRC_DIR OUT
    if [ -x "$2" ] && [ -z "$(find "$1" "$0" -newer "$2" -type f 2>/dev/null)" ]; then
        return 0
    fi
    mkdir -p "$out_dir"
    # GOPATH mode: the peer is outside GOPATH, so it is built by directory path
    # and its imports resolve from Debian's gocode tree; no module download.
    (cd "$root" && GOPATH="$gopath" GO111MODULE=off GOFLAGS= GOCACHE="${GOCACHE:-$out_dir/gocache}" \
        go build -o "$2.tmp" "./${1#"$root"/}")
    mv "$2.tmp" "$2"
}

build "$src" "$out"
build "$root/tests/peers/vcfollow" "$out_dir/vcfollow"
