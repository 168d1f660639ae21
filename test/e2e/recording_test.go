package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/keylog"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/peers"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
	"github.com/sessionconnector/sessionconnector/test/xrdppeer"
)

// TestRecordedSessionToXrdp: a session through the proxy to xrdp is recorded to S3 (MinIO); the
// recording verifies, the target was asked for graphics a recorder can decode (no bulk
// compression), the Session names the recording, and Secret Server holds an audit entry that
// names it too.
func TestRecordedSessionToXrdp(t *testing.T) {
	requirePeers(t)
	s3 := s3peer.Start(t)
	peer := xrdppeer.Start(t)
	display := peers.StartXvfb(t)
	w := startRecordedWorld(t, s3, targetSpec{id: 42, machine: peer.Addr, user: peer.User, password: peer.Password, pin: peer.CertSHA256()})
	path, tk := w.launch(42)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client := peers.RunFreeRDP(ctx, peer.Redacting(t), display, path, "/cert:ignore", "/log-level:DEBUG", "/size:1024x768")
	if !peer.WaitLog(t, "login successful for user "+peer.User, 45*time.Second) {
		t.Fatalf("xrdp never logged the secret's user on:\n%s\nproxy:\n%s", peer.Log(), w.logs.String())
	}
	if ok, last := xrdppeer.WaitDesktop(ctx, t, display, 30*time.Second); !ok {
		t.Fatalf("the desktop never showed (last colour %s)", last)
	}
	w.session(tk, v1alpha1.SessionActive, 10*time.Second)
	if !peer.WaitFile(t, "ready", xrdppeer.SessionBanner, 20*time.Second) {
		t.Fatalf("the target's shell never became ready:\n%s", peer.Log())
	}
	xrdppeer.TypeLine(ctx, t, display, "echo recorded > typed.txt")
	if !peer.WaitFile(t, "typed.txt", "recorded", 20*time.Second) {
		t.Fatal("the typed line did not reach the target")
	}
	client.Stop()
	s := w.session(tk, v1alpha1.SessionEnded, 60*time.Second)
	rec := s.Status.Recording
	if rec == nil || !rec.Complete || len(rec.SHA256) != 64 || !strings.HasPrefix(rec.URI, "s3://"+s3.Bucket+"/recordings/"+tk.ID+"/") {
		t.Fatalf("Session recording reference %+v", rec)
	}

	rep, err := storage.Verify(ctx, s3.Client(t), s3.Bucket, "recordings", tk.ID)
	if err != nil {
		t.Fatalf("the recording does not verify: %v", err)
	}
	if !rep.Manifest.Complete || rep.Records < 50 || rep.Manifest.User != "alice" || rep.Manifest.Target != peer.Addr {
		t.Fatalf("recording report %+v (manifest %+v)", rep, rep.Manifest)
	}
	checkDecodable(t, ctx, s3, tk.ID)

	// The keystroke log beside the recording has what was typed.
	obj, err := s3.Client(t).GetObject(ctx, s3.Bucket, "recordings/"+tk.ID+"/"+storage.KeystrokesName, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := keylog.Parse(obj)
	_ = obj.Close()
	if err != nil {
		t.Fatalf("keystroke log: %v", err)
	}
	var typed strings.Builder
	for _, e := range entries {
		typed.WriteString(e.String())
	}
	if !strings.Contains(typed.String(), "echo recorded > typed.txt<Enter>") {
		t.Fatalf("keystroke log %q lacks the typed line", typed.String())
	}

	var audited bool
	for _, a := range w.ss.Emulator.Audits(42) {
		if strings.Contains(a.Notes, rec.URI) && strings.Contains(a.Notes, rec.SHA256) && strings.Contains(a.Notes, tk.ID) {
			audited = true
		}
	}
	if !audited {
		t.Fatalf("no audit entry on secret 42 names the recording: %+v", w.ss.Emulator.Audits(42))
	}
}

// checkDecodable reads the recording back: the client's Client Info asked for no compression
// and the target's graphics updates are not bulk-compressed.
func checkDecodable(t *testing.T, ctx context.Context, s3 *s3peer.Peer, session string) {
	t.Helper()
	rd, err := storage.OpenRecording(ctx, s3.Client(t), s3.Bucket, "recordings", session)
	if err != nil {
		t.Fatal(err)
	}
	var updates, compressed int
	for {
		r, err := rd.Next()
		if err != nil {
			break
		}
		switch {
		case r.Direction == capture.ClientToTarget && r.Kind == capture.KindTPKT:
			if _, p, err := mcs.ReadPDU(r.PDU); err == nil {
				if sdr, ok := p.(*mcs.SendDataRequest); ok {
					if _, info, err := pdu.ParseClientInfoPDU(sdr.Data); err == nil {
						if on, _ := info.Compression(); on {
							t.Error("the recorded Client Info still asks for bulk compression")
						}
					}
				}
			}
		case r.Direction == capture.TargetToClient && r.Kind == capture.KindTPKT:
			if _, p, err := mcs.ReadPDU(r.PDU); err == nil {
				if sdi, ok := p.(*mcs.SendDataIndication); ok {
					if pdus, err := pdu.ParseSharePDUs(sdi.Data); err == nil {
						for _, sp := range pdus {
							if sp.Data != nil && sp.Data.PDUType2 == pdu.PDUType2Update {
								updates++
								if sp.Data.Compressed() {
									compressed++
								}
							}
						}
					}
				}
			}
		case r.Direction == capture.TargetToClient && r.Kind == capture.KindFastPath:
			if out, err := fastpath.ParseOutput(r.PDU); err == nil {
				for _, u := range out.Updates {
					updates++
					if u.Compressed() {
						compressed++
					}
				}
			}
		}
	}
	t.Logf("recording: %d graphics updates, none compressed", updates)
	if updates == 0 || compressed > 0 {
		t.Fatalf("%d graphics updates, %d of them bulk-compressed", updates, compressed)
	}
}
