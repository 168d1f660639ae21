#!/usr/bin/env bash
# make demo: the product end to end on embedded defaults, on one machine.
#   1. the Secret Server emulator, seeded from hack/demo/seed.yaml;
#   2. a local xrdp target (when run as root with xrdp installed: make deps installs it) whose
#      user's password lives only in the emulator;
#   3. standalone mode with the manifests of config/samples/standalone (the target's certificate
#      pinned), serving the launch API and the RDP front door;
#   4. a launch as alice: the .rdp file is printed, and opened with xfreerdp — on your display
#      when there is one, else on a virtual one, with a screenshot of the desktop you reached;
#   5. the session is recorded to a local MinIO (S3) with alice's keystrokes: when it ends, the
#      recording is verified, exported to WebM (with ffmpeg) and playable in the browser.
# Keeps running until Ctrl-C; DEMO_EXIT=1 stops after the connection was proved (the tests).
set -euo pipefail
cd "$(dirname "$0")/../.."

STATE=${DEMO_STATE:-.state/demo}
SS_ADDR=${DEMO_SECRETSERVER_ADDR:-127.0.0.1:18443}
API_ADDR=${DEMO_API_ADDR:-127.0.0.1:18444}
RDP_ADDR=${DEMO_RDP_ADDR:-127.0.0.1:13389}
TARGET_ADDR=127.0.0.1:13390 # the machine of secret 42 in hack/demo/seed.yaml
BIN=${BIN:-bin/sessionconnector}
rm -rf "$STATE"; mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
start() { setsid "$@" & pids+=($!); } # each in its own process group, stopped as a group

S3_ADDR=${DEMO_S3_ADDR:-127.0.0.1:19000}
S3_KEY=demo-recorder S3_SECRET=Demo-S3-Secret-Key-1

say "building"
go build -o "$BIN" ./cmd/sessionconnector
go build -o bin/secretserver-emulator ./hack/secretserver-emulator
mkdir -p "$(dirname "$BIN")/player" # the recording player, beside the binary
GOOS=js GOARCH=wasm go build -trimpath -o "$(dirname "$BIN")/player/player.wasm" ./recorder/player/wasm
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$(dirname "$BIN")/player/"
MINIO=$(hack/minio/build.sh) # built from its Go module once, then cached

wait_for() { # url cafile what
  for _ in $(seq 1 150); do
    if curl -fsS --cacert "$2" "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "demo: $3 did not come up; see $STATE/*.log" >&2; exit 1
}

say "starting the Secret Server emulator on https://$SS_ADDR (log: $STATE/secretserver.log)"
start bin/secretserver-emulator --seed hack/demo/seed.yaml --listen "$SS_ADDR" --cert-dir "$STATE/secretserver" \
  >"$STATE/secretserver.log" 2>&1
for _ in $(seq 1 100); do [ -f "$STATE/secretserver/ca.crt" ] && break; sleep 0.1; done
wait_for "https://$SS_ADDR/SecretServer/api/v1/healthcheck" "$STATE/secretserver/ca.crt" "the emulator"

say "starting MinIO (S3) on http://$S3_ADDR for the recordings (log: $STATE/minio.log)"
MINIO_ROOT_USER=$S3_KEY MINIO_ROOT_PASSWORD=$S3_SECRET start "$MINIO" server --quiet --address "$S3_ADDR" \
  --console-address 127.0.0.1:0 "$STATE/minio" >"$STATE/minio.log" 2>&1
for _ in $(seq 1 150); do curl -fsS "http://$S3_ADDR/minio/health/live" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET" "http://$S3_ADDR/recordings" >/dev/null

mkdir -p "$STATE/config"
cp config/samples/standalone/*.yaml "$STATE/config/"
# Record every session of the demo cluster to the local MinIO.
cat >>"$STATE/config/rdscluster.yaml" <<YAML
  recordingStorage:
    endpoint: http://$S3_ADDR
    bucket: recordings
    prefix: demo
    region: us-east-1
    credentialsSecretRef:
      name: recording-storage
    playerURL: https://$API_ADDR # the audit entry on the secret links to the player
YAML
cat >>"$STATE/config/secrets.yaml" <<YAML
---
apiVersion: v1
kind: Secret
metadata:
  name: recording-storage
stringData:
  accessKeyId: $S3_KEY
  secretAccessKey: $S3_SECRET
YAML
target=no
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/xrdp ] && command -v openssl >/dev/null; then
  # xrdp reads its sesman port from /etc/xrdp/sesman.ini whatever it is told: one private xrdp
  # at a time on this machine (the tests' xrdp peers take the same lock).
  exec 9>/tmp/sessionconnector-xrdp.lock
  flock 9
  say "starting an xrdp target on $TARGET_ADDR for the local user rdptest (log: $STATE/xrdp/xrdp.log)"
  start hack/demo/xrdp-target.sh "$STATE/xrdp" "$TARGET_ADDR" rdptest Rdp-Pass123 >"$STATE/xrdp-target.out" 2>&1
  for _ in $(seq 1 150); do [ -s "$STATE/xrdp-target.out" ] && break; sleep 0.1; done
  pin=$(head -1 "$STATE/xrdp-target.out")
  if [[ $pin =~ ^[0-9a-f]{64}$ ]]; then
    sed -i "s/0000000000000000000000000000000000000000000000000000000000000000/$pin/" "$STATE/config/rdscluster.yaml"
    target=yes
  else
    echo "demo: the xrdp target did not start: $(cat "$STATE/xrdp-target.out")" >&2
  fi
else
  say "no local RDP target (run as root after 'make deps' for one); the launch API still works"
fi

# The sample RDSCluster has no caBundle, so the system roots are used: point them at the
# emulator's generated CA for this process only.
say "starting standalone mode: launch API https://$API_ADDR, RDP front door $RDP_ADDR (log: $STATE/standalone.log)"
SSL_CERT_FILE="$STATE/secretserver/ca.crt" start "$BIN" standalone --config "$STATE/config" \
  --state "$STATE/standalone" --api-listen "$API_ADDR" --rdp-listen "$RDP_ADDR" --log-format console \
  >"$STATE/standalone.log" 2>&1
for _ in $(seq 1 100); do [ -f "$STATE/standalone/tls/ca.crt" ] && break; sleep 0.1; done
wait_for "https://$API_ADDR/readyz" "$STATE/standalone/tls/ca.crt" "standalone mode"

say "alice asks for a launch of secret 42 (web01 admin) with launcher 'rdp'"
RDP_FILE="$STATE/web01-admin.rdp"
status=$(curl -sS --cacert "$STATE/standalone/tls/ca.crt" -u 'alice:Demo-Alice-Pass-1' \
  -H 'Content-Type: application/json' -d '{"secretId": 42, "launcher": "rdp"}' \
  -o "$RDP_FILE" -w '%{http_code}' "https://$API_ADDR/api/v1/launches")
if [ "$status" != 201 ]; then echo "demo: launch answered $status: $(cat "$RDP_FILE")" >&2; exit 1; fi
SESSION=$(grep -o 'sc1\.[A-Za-z0-9_-]*' "$RDP_FILE" | head -1 | cut -d. -f2)
echo "The .rdp file is $RDP_FILE (single use, valid 900 s, no password in it):"
sed 's/^loadbalanceinfo:s:\(sc1\.[^.]*\.\).*/loadbalanceinfo:s:\1<ticket secret hidden>/' "$RDP_FILE" | head -8 | sed 's/^/    /'
echo "    ..."

say "bob may not view secret 42: his launch is refused"
curl -sS --cacert "$STATE/standalone/tls/ca.crt" -u 'bob:Demo-Bob-Pass-1' \
  -H 'Content-Type: application/json' -d '{"secretId": 42, "launcher": "rdp"}' "https://$API_ADDR/api/v1/launches" | sed 's/^/    /'

if [ "$target" = yes ] && command -v xfreerdp >/dev/null; then
  if [ -n "${DISPLAY:-}" ] && [ "${DEMO_EXIT:-0}" != 1 ]; then
    say "opening the .rdp file with xfreerdp on your display"
    xfreerdp "$RDP_FILE" /cert:ignore >"$STATE/xfreerdp.log" 2>&1 &
  elif command -v Xvfb >/dev/null; then
    say "no display: opening the .rdp file with xfreerdp on a virtual display"
    start Xvfb :77 -screen 0 1280x800x24 -nolisten tcp >"$STATE/xvfb.log" 2>&1
    sleep 0.5
    DISPLAY=:77 start xfreerdp "$RDP_FILE" /cert:ignore /size:1024x768 >"$STATE/xfreerdp.log" 2>&1
    for _ in $(seq 1 300); do grep -q "login successful for user rdptest" "$STATE/xrdp/xrdp.log" 2>/dev/null && break; sleep 0.1; done
    if ! grep -q "login successful for user rdptest" "$STATE/xrdp/xrdp.log" 2>/dev/null; then
      echo "demo: the target never logged rdptest on; see $STATE/standalone.log and $STATE/xrdp/xrdp.log" >&2; exit 1
    fi
    sleep 2
    if command -v xdotool >/dev/null; then # something for the keystroke log
      DISPLAY=:77 timeout 20 xdotool search --sync --onlyvisible --class xfreerdp windowfocus --sync mousemove --sync 200 120 sleep 0.3 \
        type --delay 60 -- 'echo recorded by session connector' && DISPLAY=:77 xdotool key Return
      sleep 1.5
    fi
    if command -v import >/dev/null; then
      DISPLAY=:77 import -window root "$STATE/desktop.png" 2>/dev/null && echo "    screenshot of the session: $STATE/desktop.png"
    fi
    headless=yes
  fi
  for _ in $(seq 1 300); do grep -q "session started" "$STATE/standalone.log" && break; sleep 0.1; done
  if grep -q "session started" "$STATE/standalone.log"; then
    say "connected: xrdp logged rdptest on with the password from the vault, which nobody typed"
    grep -h "login successful" "$STATE/xrdp/xrdp.log" | tail -1 | sed 's/^/    xrdp: /'
    grep -h "session started" "$STATE/standalone.log" | tail -1 | sed 's/^/    proxy: /'
  elif [ "${DEMO_EXIT:-0}" = 1 ]; then
    echo "demo: no session started; see $STATE/standalone.log" >&2; exit 1
  fi
fi

recording() { # after the session ended: verify, export, point at the player
  for _ in $(seq 1 300); do grep -q "recording stored" "$STATE/standalone.log" && break; sleep 0.1; done
  if ! grep -q "recording stored" "$STATE/standalone.log"; then
    echo "demo: the recording was not stored; see $STATE/standalone.log" >&2; return 1
  fi
  say "the session was recorded to s3://recordings/demo/$SESSION/"
  AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET "$BIN" recorder verify \
    --endpoint "http://$S3_ADDR" --bucket recordings --prefix demo --region us-east-1 --session "$SESSION" | sed 's/^/    /'
  if command -v ffmpeg >/dev/null; then
    AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET "$BIN" recorder export \
      --endpoint "http://$S3_ADDR" --bucket recordings --prefix demo --region us-east-1 --session "$SESSION" \
      --output "$STATE/session.webm" >/dev/null && echo "    exported to video: $STATE/session.webm"
  fi
  echo "    watch it in a browser: https://$API_ADDR/recordings/$SESSION (sign in as alice / Demo-Alice-Pass-1;"
  echo "    the launch API's CA is $STATE/standalone/tls/ca.crt)"
}
if [ "${headless:-no}" = yes ]; then
  say "ending the session (closing the client)"
  pkill -f "xfreerdp $RDP_FILE" 2>/dev/null || true
  recording || { [ "${DEMO_EXIT:-0}" != 1 ] || exit 1; }
elif [ "$target" = yes ]; then
  echo "When you close the session, its recording is in s3://recordings/demo/$SESSION/ (MinIO at http://$S3_ADDR,"
  echo "user $S3_KEY); watch it at https://$API_ADDR/recordings/$SESSION (sign in as alice)."
fi

if [ "${DEMO_EXIT:-0}" = 1 ]; then say "demo done"; exit 0; fi
say "running; launch again with:"
echo "    curl --cacert $STATE/standalone/tls/ca.crt -u alice:Demo-Alice-Pass-1 -d '{\"secretId\":42,\"launcher\":\"rdp\"}' -o web01.rdp https://$API_ADDR/api/v1/launches"
echo "    xfreerdp web01.rdp /cert:ignore"
echo "Ctrl-C stops the demo."
wait
