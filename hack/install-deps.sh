#!/usr/bin/env bash
# Installs what the tests need on a Debian machine, skipping what is already there:
#   - Xvfb and the FreeRDP client (real-client tests), curl (demo);
#   - freerdp2-shadow-x11, winpr-utils (NLA target, test/nlapeer);
#   - xrdp, xorgxrdp, xterm, x11-xserver-utils, xdotool, imagemagick (xrdp target, test/xrdppeer);
#   - ffmpeg (recorder export to WebM/MP4; ffprobe checks the video), chromium (browser player test);
#   - kube-apiserver and etcd for envtest, built from Go modules (hack/envtest/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v Xvfb >/dev/null || need+=(xvfb)
command -v xfreerdp >/dev/null || need+=(freerdp2-x11)
command -v curl >/dev/null || need+=(curl)
command -v git >/dev/null || need+=(git)
# xrdp target for test/xrdppeer (the session runs xsetroot, xterm and xdotool; tests screenshot
# the client's display with ImageMagick's import and type into it with xdotool).
[ -x /usr/sbin/xrdp ] || need+=(xrdp) # /usr/sbin: not on every user's PATH
[ -e /usr/lib/xorg/modules/libxorgxrdp.so ] || need+=(xorgxrdp)
command -v xterm >/dev/null || need+=(xterm)
command -v xsetroot >/dev/null || need+=(x11-xserver-utils)
command -v xdotool >/dev/null || need+=(xdotool)
command -v import >/dev/null || need+=(imagemagick)
# FreeRDP shadow server with a SAM file: the NLA (CredSSP) target of test/nlapeer.
command -v freerdp-shadow-cli >/dev/null || need+=(freerdp2-shadow-x11)
command -v winpr-hash >/dev/null || need+=(winpr-utils)
# Video export (sessionconnector recorder export) and its check with ffprobe.
command -v ffmpeg >/dev/null || need+=(ffmpeg)
# Headless browser for the recording player test (driven over the DevTools protocol).
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "install-deps: installing ${need[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Installing xrdp starts its system services where systemd runs; the tests start their own.
if command -v systemctl >/dev/null && systemctl is-active --quiet xrdp 2>/dev/null; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo systemctl disable --now xrdp xrdp-sesman >/dev/null 2>&1 || true
fi
hack/envtest/build.sh >/dev/null
hack/minio/build.sh >/dev/null
