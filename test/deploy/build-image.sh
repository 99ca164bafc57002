#!/usr/bin/env bash
# Builds the production image from the real Dockerfile with podman, without a docker daemon and
# without Docker Hub (test/deploy/image.test.ts runs it; Debian: apt-get install podman buildah
# debootstrap; as root).
#
# The Dockerfile's base, node:24-trixie-slim, cannot be pulled here, so a stand-in is made from
# Debian's packages and the Node binary this checkout already has: debootstrap minbase (the slim
# image's Debian), node at /usr/local/bin, npm from its npm tarball, user node (1000:1000),
# docker-entrypoint.sh and CMD ["node"] as the official image has them. If the host's npm trusts
# an extra CA (NODE_EXTRA_CA_CERTS), the stand-in carries it, as a corporate build machine's base
# would, or `npm ci` in the build fails. The stand-in is tagged by a hash of its inputs and reused
# while they are unchanged (debootstrap's packages and npm's tarball are kept in the cache dir).
#
# usage: test/deploy/build-image.sh [TAG]   (default localhost/streamer:test)
# Prints the stand-in's tag and the build times; the last line is `image TAG`.
set -euo pipefail
cd "$(dirname "$0")/../.."

TAG="${1:-localhost/streamer:test}"
CACHE="${STREAMER_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/streamer-image}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=trixie           # node:24-trixie-slim's Debian
NPM_VERSION=11.19.1    # an npm 11, as Node 24's images bundle
NODE_BIN=node_modules/node/bin/node
NODE_VERSION="$("$NODE_BIN" --version)"
CA="${NODE_EXTRA_CA_CERTS:-}"
[ -n "$CA" ] && [ ! -f "$CA" ] && CA=""

for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is missing (apt-get install podman buildah debootstrap)" >&2; exit 3; }
done
mkdir -p "$CACHE/debs"

elapsed() { echo "$(( $(date +%s) - $1 )) s"; }

# --- the stand-in base -------------------------------------------------------------------------
# Its tag: a hash of this section and of what it takes in (so an edit here rebuilds it).
key="$( { sed -n '/^# --- the stand-in base/,/^# --- the image/p' "$0"; echo "$SUITE $NPM_VERSION $NODE_VERSION $(uname -m)"; if [ -n "$CA" ]; then cat "$CA"; fi; } | sha256sum | cut -c1-16)"
BASE="localhost/streamer-node-standin:${NODE_VERSION#v}-$SUITE-$key"
if podman image exists "$BASE"; then
  echo "stand-in $BASE: cached"
else
  start=$(date +%s)
  work="$(mktemp -d /var/tmp/streamer-standin.XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  root="$work/root"
  debootstrap --variant=minbase --include=ca-certificates --cache-dir="$CACHE/debs" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
  install -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
  npm_tgz="$CACHE/npm-$NPM_VERSION.tgz"
  if [ ! -f "$npm_tgz" ]; then
    (cd "$work" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
    mv "$work/npm-$NPM_VERSION.tgz" "$npm_tgz"
  fi
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1 --no-same-owner
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  chroot "$root" groupadd --gid 1000 node
  chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  # The official image's entrypoint: a first argument that is a flag or no command runs node.
  cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
  chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
  changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change "ENV NODE_VERSION=${NODE_VERSION#v}")
  if [ -n "$CA" ]; then
    cp "$CA" "$root/etc/ssl/certs/build-host-extra-ca.pem"
    changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/build-host-extra-ca.pem')
  fi
  changes+=(--change 'ENTRYPOINT ["docker-entrypoint.sh"]' --change 'CMD ["node"]')
  # As the slim image: no apt lists or downloaded packages, nothing under the kernel's mounts.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
  tar -C "$root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . | podman import -q "${changes[@]}" - "$BASE" >/dev/null
  echo "stand-in $BASE: built in $(elapsed "$start")"
fi

# --- the image ---------------------------------------------------------------------------------
# --isolation=chroot: RUN steps in a chroot (the default OCI runtime cannot start containers on this
# machine's cgroups). --format docker: keeps the HEALTHCHECK, as docker build does (OCI has none).
# --layers: unchanged steps are reused from the previous build.
previous="$(podman image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)"
start=$(date +%s)
podman build --isolation=chroot --network=host --format docker --layers --build-arg "NODE_IMAGE=$BASE" -t "$TAG" . >"$CACHE/build.log" 2>&1 ||
  { tail -n 40 "$CACHE/build.log" >&2; exit 1; }
echo "image $TAG: built in $(elapsed "$start") (log: $CACHE/build.log)"
# The image this tag named before, unless a cached step still uses it.
if [ -n "$previous" ] && [ "$previous" != "$(podman image inspect --format '{{.Id}}' "$TAG")" ]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
echo "base $BASE"
echo "image $TAG"
