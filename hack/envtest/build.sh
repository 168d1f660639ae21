#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries that envtest starts, from Go modules
# (no prebuilt downloads are reachable here), and caches them outside the work tree.
# Prints the folder to use as KUBEBUILDER_ASSETS.
#
#   hack/envtest/build.sh            # build when missing, print the folder
#   KUBE_VERSION=1.37.2 ETCD_VERSION=3.6.16 hack/envtest/build.sh
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-1.37.2}
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
CACHE=${SESSIONCONNECTOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sessionconnector}
BIN=$CACHE/envtest/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION
mkdir -p "$BIN"

log() { echo "envtest: $*" >&2; }

if [ ! -x "$BIN/etcd" ]; then
  log "building etcd v$ETCD_VERSION (about 1.5 minutes)"
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  (cd "$work" &&
    printf 'module etcdbuild\n\ngo 1.26\n' > go.mod &&
    go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2 &&
    go build -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  rm -rf "$work"; trap - EXIT
fi

if [ ! -x "$BIN/kube-apiserver" ]; then
  log "building kube-apiserver v$KUBE_VERSION (about 10 minutes on 2 cores)"
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  modfile=$(cd "$work" && printf 'module probe\n\ngo 1.26\n' > go.mod &&
    go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  minor=0.${KUBE_VERSION#1.}
  {
    printf 'module kasbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$KUBE_VERSION"
    grep -E '=> ./staging' "$modfile" | awk -v v="$minor" '{print "\t"$1" => "$1" v"v}'
    echo ')'
  } > "$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver"\n' > "$work/tools.go"
  (cd "$work" &&
    go get "k8s.io/kubernetes/cmd/kube-apiserver@v$KUBE_VERSION" >&2 &&
    go build -ldflags "-X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION" \
      -o "$BIN/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2)
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
  rm -rf "$work"; trap - EXIT
fi

echo "$BIN"
