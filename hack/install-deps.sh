#!/usr/bin/env bash
# Installs what the tests need on a Debian machine, skipping what is already there:
#   - Xvfb and the FreeRDP client (real-client tests), curl (demo);
#   - kube-apiserver and etcd for envtest, built from Go modules (hack/envtest/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xfreerdp >/dev/null || need+=(freerdp2-x11)
command -v curl >/dev/null || need+=(curl)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
hack/envtest/build.sh >/dev/null
