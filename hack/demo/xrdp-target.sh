#!/usr/bin/env bash
# Starts a local xrdp target for the demo, on a loopback port, in the foreground of its own
# process group: hack/demo/xrdp-target.sh DIR ADDR USER PASSWORD
# Creates (or resets the password of) a throw-away local USER whose desktop is a blue background
# and a terminal, writes DIR/xrdp.ini, DIR/sesman.ini, a self-signed certificate and prints the
# certificate's SHA-256 on stdout once xrdp accepts connections. Needs root.
set -euo pipefail
dir=$1 addr=$2 user=$3 password=$4
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

id "$user" >/dev/null 2>&1 || useradd -m -s /bin/bash "$user"
echo "$user:$password" | chpasswd
home=$(getent passwd "$user" | cut -d: -f6)
cat > "$home/startwm.sh" <<'WM'
#!/bin/sh
xsetroot -solid '#336699'
exec xterm -geometry 80x12+50+50 -title "Session Connector demo" -e sh -c 'echo "Logged on as $(id -un) with a password you never saw."; exec bash'
WM
chmod +x "$home/startwm.sh"; chown "$user:" "$home/startwm.sh"

# Values may not contain '#': xrdp's ini parser cuts them there.
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=sessionconnector-demo-target" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1
set_ini() { # file section key value
  awk -v s="[$2]" -v k="$3" -v v="$4" '
    $0 == s { insec = 1; print; next }
    /^\[/ { if (insec && !done) { print k "=" v; done = 1 } insec = 0 }
    insec && index($0, k "=") == 1 { if (!done) print k "=" v; done = 1; next }
    { print }
    END { if (insec && !done) print k "=" v }' "$1" > "$1.tmp" && mv "$1.tmp" "$1"
}
cp /etc/xrdp/xrdp.ini /etc/xrdp/sesman.ini "$dir/"
set_ini "$dir/xrdp.ini" Globals port "tcp://$addr"
set_ini "$dir/xrdp.ini" Globals security_layer negotiate
set_ini "$dir/xrdp.ini" Globals certificate "$dir/cert.pem"
set_ini "$dir/xrdp.ini" Globals key_file "$dir/key.pem"
set_ini "$dir/xrdp.ini" Logging LogFile "$dir/xrdp.log"
set_ini "$dir/xrdp.ini" Logging EnableSyslog false
set_ini "$dir/sesman.ini" Globals EnableUserWindowManager true
set_ini "$dir/sesman.ini" Globals UserWindowManager startwm.sh
set_ini "$dir/sesman.ini" Sessions KillDisconnected true
set_ini "$dir/sesman.ini" Sessions DisconnectedTimeLimit 0
set_ini "$dir/sesman.ini" Sessions Policy UBC
set_ini "$dir/sesman.ini" Logging LogFile "$dir/sesman.log"
set_ini "$dir/sesman.ini" Logging EnableSyslog false

sh /usr/share/xrdp/socksetup >/dev/null 2>&1 || true
rm -f /run/xrdp/xrdp.pid /run/xrdp/xrdp-sesman.pid
xrdp-sesman -n -c "$dir/sesman.ini" >"$dir/sesman.out" 2>&1 &
sesman=$!
xrdp -n -c "$dir/xrdp.ini" >"$dir/xrdp.out" 2>&1 &
xrdp=$!
trap 'kill $xrdp $sesman 2>/dev/null; pkill -u "$user" 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
host=${addr%:*} port=${addr##*:}
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then break; fi
  sleep 0.1
done
openssl x509 -in "$dir/cert.pem" -outform DER | sha256sum | cut -d' ' -f1
wait
