#!/usr/bin/env bash
# Builds the MinIO server that test/s3peer starts, from its Go module (no prebuilt downloads
# are reachable here), in a throwaway module, and caches it outside the work tree. MinIO is
# only run as a test peer; nothing in this repository links it. Prints the binary's path.
#
#   hack/minio/build.sh                     # build when missing, print the binary path
#   MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c hack/minio/build.sh
set -euo pipefail

MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
CACHE=${SESSIONCONNECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sessionconnector}
BIN=$CACHE/minio-$MINIO_VERSION
mkdir -p "$BIN"

log() { echo "minio: $*" >&2; }

if [ ! -x "$BIN/minio" ]; then
  log "building minio $MINIO_VERSION (about 6 minutes and 1.5 GB of memory on 2 cores)"
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  (cd "$work" &&
    printf 'module miniobuild\n\ngo 1.26\n' > go.mod &&
    go get "github.com/minio/minio@$MINIO_VERSION" >&2 &&
    go build -trimpath -o "$BIN/minio.tmp" github.com/minio/minio >&2)
  mv "$BIN/minio.tmp" "$BIN/minio"
  rm -rf "$work"; trap - EXIT
fi

echo "$BIN/minio"
