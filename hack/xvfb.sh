#!/usr/bin/env bash
# Real peers for the end-to-end tests: an X server without a screen (Xvfb) and the FreeRDP client.
# The Go tests start them themselves (package test/peers); this script installs them and runs
# things under a private display by hand.
#
#   hack/xvfb.sh install                 # apt-get the packages when a program is missing (root)
#   hack/xvfb.sh test [go test flags]    # install, then go test ./test/e2e/... with SC_REQUIRE_PEERS=1
#   hack/xvfb.sh run CMD [ARGS...]       # run CMD with DISPLAY set to a fresh Xvfb (:90..:120)
#                                        # e.g. hack/xvfb.sh run xfreerdp session.rdp /cert:ignore
set -euo pipefail

PACKAGES=(xvfb freerdp2-x11)

log() { echo "xvfb.sh: $*" >&2; }

install() {
  if command -v Xvfb >/dev/null && command -v xfreerdp >/dev/null; then
    return
  fi
  local sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  log "installing ${PACKAGES[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
}

run() {
  [ $# -gt 0 ] || { log "run: no command"; exit 2; }
  local n fifo
  # Globals, not locals: the EXIT trap runs after this function has returned.
  XVFB_DIR=$(mktemp -d); fifo=$XVFB_DIR/displayfd; mkfifo "$fifo"
  for n in $(seq 90 120); do
    [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ] && continue
    Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp -displayfd 3 3>"$fifo" 2>"$XVFB_DIR/xvfb.log" &
    XVFB_PID=$!
    # Xvfb writes the display number once it accepts connections, or exits (display taken).
    if [ "$(timeout 15 head -n1 "$fifo" || true)" = "$n" ]; then
      trap 'kill "$XVFB_PID" 2>/dev/null; wait "$XVFB_PID" 2>/dev/null; rm -rf "$XVFB_DIR"' EXIT
      log "Xvfb on :$n"
      DISPLAY=":$n" "$@"
      return
    fi
    kill "$XVFB_PID" 2>/dev/null || true; wait "$XVFB_PID" 2>/dev/null || true
  done
  log "no free display in :90..:120"; rm -rf "$XVFB_DIR"; exit 1
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  install) install ;;
  test)
    install
    cd "$(dirname "$0")/.."
    SC_REQUIRE_PEERS=1 go test -race -count=1 "$@" ./test/e2e/...
    ;;
  run) run "$@" ;;
  *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
