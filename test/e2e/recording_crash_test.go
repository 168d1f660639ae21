package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/input"
	"github.com/sessionconnector/sessionconnector/test/testbin"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/keylog"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator"
	"github.com/sessionconnector/sessionconnector/secretserver/emulator/emulatortest"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
	"github.com/sessionconnector/sessionconnector/test/logbuf"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// TestRecordingAfterProxyCrash kills the standalone process (the proxy) in the middle of a
// recorded session: everything flushed before the kill reaches S3 — uploaded at once or from
// the spool after the restart — under a manifest that says the recording was interrupted.
func TestRecordingAfterProxyCrash(t *testing.T) {
	requirePeers(t)
	bin := testbin.Build(t)
	s3 := s3peer.Start(t)
	target := fakerdp.StartTarget(t, fakerdp.TargetOptions{Password: "Crash-Target-Pass-1"})
	ss := emulatortest.Start(t, fmt.Sprintf(`
users:
  - {username: alice, password: Crash-Alice-Pass-1}
  - {username: connector, password: Crash-Connector-Pass-1, applicationAccount: true}
secrets:
  - {id: 42, name: crash target, template: Windows Account,
     fields: {machine: %q, username: u, password: Crash-Target-Pass-1}, viewers: [alice, connector]}
`, target.Addr), emulator.Options{})
	config := t.TempDir()
	writeFile(t, filepath.Join(config, "all.yaml"), fmt.Sprintf(`apiVersion: sessionconnector.io/v1alpha1
kind: RDSCluster
metadata: {name: crash}
spec:
  targetTLS: {pinnedSHA256: [%q]}
  recordingStorage: {endpoint: %q, bucket: %q, prefix: rec, credentialsSecretRef: {name: s3}}
  secretServer:
    url: %s
    applicationAccountSecretRef: {name: app}
    caBundle: |
%s
---
apiVersion: v1
kind: Secret
metadata: {name: app}
stringData: {username: connector, password: Crash-Connector-Pass-1}
---
apiVersion: v1
kind: Secret
metadata: {name: s3}
stringData: {accessKeyId: %q, secretAccessKey: %q}
---
apiVersion: sessionconnector.io/v1alpha1
kind: SessionLauncher
metadata: {name: rdp}
spec: {clusterRef: crash, templates: [{name: Windows Account}], recordKeystrokes: true}
`, target.CertSHA256(), "http://"+s3.Endpoint, s3.Bucket, ss.URL, indent(string(ss.CAPEM), "      "), s3.AccessKey, s3.SecretKey))
	state := t.TempDir()
	apiPort, rdpPort := testbin.FreePort(t), testbin.FreePort(t)
	var logs logbuf.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "standalone", "--config", config, "--state", state,
			"--api-listen", "127.0.0.1:"+strconv.Itoa(apiPort), "--rdp-listen", "127.0.0.1:"+strconv.Itoa(rdpPort))
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(rdpPort)); err == nil {
				c.Close()
				return cmd
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("standalone did not start:\n%s", logs.String())
		return nil
	}
	connect := func() (*fakerdp.Client, ticket.Ticket) {
		rdp := launchAsURL(t, "https://127.0.0.1:"+strconv.Itoa(apiPort), filepath.Join(state, "tls", "ca.crt"),
			"alice", "Crash-Alice-Pass-1", `{"secretId": 42, "launcher": "rdp"}`)
		var tk ticket.Ticket
		var err error
		for _, line := range strings.Split(string(rdp), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "loadbalanceinfo:s:"); ok {
				if tk, err = ticket.Parse(v); err != nil {
					t.Fatal(err)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := fakerdp.Dial(ctx, "127.0.0.1:"+strconv.Itoa(rdpPort), tk.Text(), fakerdp.ClientOptions{})
		if err != nil {
			t.Fatalf("%v\n%s", err, logs.String())
		}
		return c, tk
	}

	proc := start()
	c, tk := connect()
	typed := "echo crash"
	for i := range 30 { // 3 s of traffic: at least one flush of the recording (every 2 s)
		payload, _ := fakerdp.DataPDU(100, c.UserID())
		frame, _ := c.DataFrame(payload)
		if i < len(typed) { // and a line typed, as fast-path Unicode key events
			press := input.Event{Source: input.FastPath, Kind: input.KindUnicode, Unicode: rune(typed[i])}
			release := press
			release.Released = true
			var err error
			if frame, err = input.MarshalFastPath([]input.Event{press, release}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Send(frame); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Recv(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = proc.Process.Kill() // the proxy dies mid-session
	_ = proc.Wait()
	c.Close()

	// Restarted, the proxy uploads what the spool holds at once, without waiting for a session.
	start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := s3.Client(t)
	var m *capture.Manifest
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if obj, err := client.GetObject(ctx, s3.Bucket, storage.ManifestKey("rec", tk.ID), minio.GetObjectOptions{}); err == nil {
			data, rerr := io.ReadAll(obj)
			_ = obj.Close()
			if rerr == nil {
				if parsed, err := capture.ParseManifest(data); err == nil {
					m = parsed
					break
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m == nil {
		t.Fatalf("no manifest for the crashed session:\n%s", logs.String())
	}
	if m.Complete || len(m.Chunks) == 0 {
		t.Fatalf("manifest of the crashed session: complete=%v chunks=%d", m.Complete, len(m.Chunks))
	}
	rep, err := storage.Verify(ctx, client, s3.Bucket, "rec", tk.ID)
	if err != nil {
		t.Fatalf("the interrupted recording does not verify: %v", err)
	}
	if rep.Records < 20 {
		t.Fatalf("only %d records survived the crash", rep.Records)
	}
	// The keystroke log, which the crashed process never wrote, is rebuilt from the recording.
	var keys []keylog.Entry
	for time.Now().Before(deadline) {
		if obj, err := client.GetObject(ctx, s3.Bucket, "rec/"+tk.ID+"/"+storage.KeystrokesName, minio.GetObjectOptions{}); err == nil {
			keys, err = keylog.Parse(obj)
			_ = obj.Close()
			if err == nil {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	var text strings.Builder
	for _, e := range keys {
		text.WriteString(e.String())
	}
	if text.String() != typed {
		t.Fatalf("rebuilt keystroke log %q, want %q", text.String(), typed)
	}
	for _, pw := range []string{"Crash-Target-Pass-1", "Crash-Connector-Pass-1", "Crash-Alice-Pass-1", s3.SecretKey} {
		if strings.Contains(logs.String(), pw) {
			t.Error("a password or key appears in the logs")
		}
	}
}
