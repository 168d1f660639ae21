#!/usr/bin/env bash
# make demo: the product end to end on embedded defaults, on one machine.
# Starts the Secret Server emulator (seeded from hack/demo/seed.yaml), standalone mode with the
# manifests in config/samples/standalone, asks for a launch as alice and prints the .rdp file.
# Keeps running until Ctrl-C; DEMO_EXIT=1 stops after the launch (used by the tests).
set -euo pipefail
cd "$(dirname "$0")/../.."

STATE=${DEMO_STATE:-.state/demo}
SS_ADDR=${DEMO_SECRETSERVER_ADDR:-127.0.0.1:18443}
API_ADDR=${DEMO_API_ADDR:-127.0.0.1:18444}
RDP_ADDR=${DEMO_RDP_ADDR:-127.0.0.1:13389}
BIN=${BIN:-bin/sessionconnector}
mkdir -p "$STATE"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

say "building"
go build -o "$BIN" ./cmd/sessionconnector
go build -o bin/secretserver-emulator ./hack/secretserver-emulator

wait_for() { # url cafile what
  for _ in $(seq 1 100); do
    if curl -fsS --cacert "$2" "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "demo: $3 did not come up; see $STATE/*.log" >&2; exit 1
}

say "starting the Secret Server emulator on https://$SS_ADDR (log: $STATE/secretserver.log)"
bin/secretserver-emulator --seed hack/demo/seed.yaml --listen "$SS_ADDR" --cert-dir "$STATE/secretserver" \
  >"$STATE/secretserver.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$STATE/secretserver/ca.crt" ] && break; sleep 0.1; done
wait_for "https://$SS_ADDR/SecretServer/api/v1/healthcheck" "$STATE/secretserver/ca.crt" "the emulator"

# The sample RDSCluster has no caBundle, so the system roots are used: point them at the
# emulator's generated CA for this process only.
say "starting standalone mode: launch API https://$API_ADDR, RDP front door $RDP_ADDR (log: $STATE/standalone.log)"
SSL_CERT_FILE="$STATE/secretserver/ca.crt" "$BIN" standalone --config config/samples/standalone \
  --state "$STATE/standalone" --api-listen "$API_ADDR" --rdp-listen "$RDP_ADDR" \
  >"$STATE/standalone.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$STATE/standalone/tls/ca.crt" ] && break; sleep 0.1; done
wait_for "https://$API_ADDR/readyz" "$STATE/standalone/tls/ca.crt" "standalone mode"

say "alice asks for a launch of secret 42 with launcher 'rdp'"
RDP_FILE="$STATE/web01-admin.rdp"
status=$(curl -sS --cacert "$STATE/standalone/tls/ca.crt" -u 'alice:Demo-Alice-Pass-1' \
  -H 'Content-Type: application/json' -d '{"secretId": 42, "launcher": "rdp"}' \
  -o "$RDP_FILE" -w '%{http_code}' "https://$API_ADDR/api/v1/launches")
if [ "$status" != 201 ]; then echo "demo: launch answered $status: $(cat "$RDP_FILE")" >&2; exit 1; fi
echo "The .rdp file is $RDP_FILE (single use, valid 900 s, no password in it):"
sed 's/^loadbalanceinfo:s:\(sc1\.[^.]*\.\).*/loadbalanceinfo:s:\1<ticket secret hidden>/' "$RDP_FILE" | sed 's/^/    /'

say "bob may not view secret 42: his launch is refused"
curl -sS --cacert "$STATE/standalone/tls/ca.crt" -u 'bob:Demo-Bob-Pass-1' \
  -H 'Content-Type: application/json' -d '{"secretId": 42, "launcher": "rdp"}' "https://$API_ADDR/api/v1/launches" | sed 's/^/    /'

if [ "${DEMO_EXIT:-0}" = 1 ]; then say "demo done"; exit 0; fi
say "running; launch more with:"
echo "    curl --cacert $STATE/standalone/tls/ca.crt -u alice:Demo-Alice-Pass-1 -d '{\"secretId\":42,\"launcher\":\"rdp\"}' -o web01.rdp https://$API_ADDR/api/v1/launches"
echo "Ctrl-C stops the demo."
wait
