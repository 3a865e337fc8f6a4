#!/usr/bin/env bash
# Builds the container image deploy/container/Containerfile without any image registry, the way
# this kind of machine allows (deploy/README.md):
#   1. mmdebstrap --variant=minbase bookworm -> a rootfs tarball from Debian's package archive (the
#      mirror of /etc/apt/sources.list*), cached in OUT_DIR and reused while it is younger than a week;
#   2. podman import -> the local base image localhost/event-router-base:bookworm;
#   3. buildah bud --isolation=chroot --layers (the default isolation fails here with "cgroups in
#      hybrid mode not supported"; --layers caches the apt-get steps between builds).
# podman/buildah read OUT_DIR/containers.conf through CONTAINERS_CONF: runc (crun cannot set
# RLIMIT_NOFILE here) and explicit ulimits. Source this file's `export CONTAINERS_CONF` line, or
# use tools/podman.sh, to run the image the same way.
# Usage: tools/build-image.sh [TAG]   (default localhost/event-router:dev); OUT_DIR default build/image
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-localhost/event-router:dev}
out=${OUT_DIR:-build/image}
base=localhost/event-router-base:bookworm
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in mmdebstrap podman buildah runc; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool missing (run tools/setup.sh)" >&2; exit 1; }
done

cat >"$out/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
CONF
export CONTAINERS_CONF="$out/containers.conf"

# The Debian mirror this machine's apt uses (deb822 "URIs:" or one-line "deb URL" form).
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p; s/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\(http[^[:space:]]*\).*/\2/p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
  grep -v security | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}

rootfs="$out/debian-bookworm-minbase.tar"
if [ ! -s "$rootfs" ] || [ -n "$(find "$rootfs" -mtime +7)" ]; then
  echo "build-image: mmdebstrap minbase bookworm from $mirror"
  # Without documentation, manuals and translations (dpkg keeps excluding them for the packages
  # the image adds), and without apt's lists and caches: a slim base.
  # The merged-usr hook does what the usrmerge package would, without pulling perl into the base.
  mmdebstrap --quiet --variant=minbase --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log' \
    bookworm "$rootfs.tmp" "$mirror" "deb ${mirror%/debian}/debian-security bookworm-security main"
  mv "$rootfs.tmp" "$rootfs"
  podman rmi -f "$base" >/dev/null 2>&1 || true
fi
if ! podman image exists "$base"; then
  podman import --quiet "$rootfs" "$base" >/dev/null
fi

# The context: the tracked and new (not ignored) files only, so build trees, node_modules and
# the image cache itself stay out.
context="$out/context"
rm -rf "$context"
mkdir -p "$context"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$context"

version=$(sed -n 's/^project(event-router VERSION \([^ ]*\).*/\1/p' CMakeLists.txt)
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
echo "build-image: buildah bud $tag (base $base)"
buildah bud --quiet --isolation=chroot --layers --pull=never \
  --build-arg BASE="$base" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  -f deploy/container/Containerfile -t "$tag" "$context" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "build-image: $tag built, $((size / 1000000)) MB"
