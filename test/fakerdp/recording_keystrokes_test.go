package fakerdp_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/rdp/input"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
)

// TestRecordingKeepsKeystrokesOnlyWhenAsked: a launcher without recordKeystrokes gets a
// recording with no key event in it (the client's mouse input stays, for the pointer), and no
// keystroke log; with recordKeystrokes the keys are in both.
func TestRecordingKeepsKeystrokesOnlyWhenAsked(t *testing.T) {
	s3 := s3peer.Start(t)
	for _, keystrokes := range []bool{false, true} {
		t.Run(map[bool]string{false: "without", true: "with"}[keystrokes], func(t *testing.T) {
			lab := fakerdp.StartLab(t, fakerdp.LabOptions{
				Password: secretPassword, S3AccessKey: s3.AccessKey, S3SecretKey: s3.SecretKey,
				Cluster: func(c *v1alpha1.RDSCluster) {
					c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "http://" + s3.Endpoint, Bucket: s3.Bucket,
						Prefix: "keys", CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
				},
				Launcher: func(l *v1alpha1.SessionLauncher) { l.Spec.RecordKeystrokes = keystrokes },
				Config:   func(c *proxy.Config) { c.SpoolDir = t.TempDir() },
			})
			tk := lab.Issue(t)
			c, err := fakerdp.Dial(dialContext(t), lab.Addr, tk.Text(), fakerdp.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			move := input.Event{Source: input.FastPath, Kind: input.KindMouse, PointerFlags: input.PtrFlagsMove, X: 33, Y: 44}
			var pdus [][]byte
			for _, r := range "hunter2" {
				press := input.Event{Source: input.FastPath, Kind: input.KindUnicode, Unicode: r}
				release := press
				release.Released = true
				b, err := input.MarshalFastPath([]input.Event{press, release})
				if err != nil {
					t.Fatal(err)
				}
				pdus = append(pdus, b)
			}
			mixed, err := input.MarshalFastPath([]input.Event{{Source: input.FastPath, Kind: input.KindScancode, Scancode: 0x1C}, move})
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range append(pdus, mixed) {
				if err := c.Send(b); err != nil {
					t.Fatal(err)
				}
				_ = c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Recv(); err != nil { // the fake target echoes
					t.Fatal(err)
				}
			}
			c.Close()
			s := lab.WaitPhase(t, tk.ID, v1alpha1.SessionEnded, time.Minute)
			if s.Status.Recording == nil || !s.Status.Recording.Complete {
				t.Fatalf("recording reference %+v", s.Status.Recording)
			}
			if n := lab.Metric("sessionconnector_recordings_total", "outcome", "complete"); n != 1 {
				t.Fatalf("%v complete recordings counted, want 1", n)
			}
			if n := lab.Metric("sessionconnector_recording_spool_bytes"); n != 0 {
				t.Fatalf("%v bytes still spooled after the recording was stored", n)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rd, err := storage.OpenRecording(ctx, s3.Client(t), s3.Bucket, "keys", tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			var keys, moves int
			for {
				r, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if r.Direction != capture.ClientToTarget || r.Kind != capture.KindFastPath {
					continue
				}
				events, err := input.ParseFastPath(r.PDU)
				if err != nil {
					t.Fatalf("recorded client input does not decode: %v", err)
				}
				for _, e := range events {
					switch {
					case e.Keyboard():
						keys++
					case e.Kind == input.KindMouse && e.X == 33 && e.Y == 44:
						moves++
					}
				}
			}
			if want := map[bool]int{false: 0, true: 15}[keystrokes]; keys != want || moves != 1 {
				t.Fatalf("recording holds %d key events (want %d) and %d mouse moves (want 1)", keys, want, moves)
			}
			_, err = s3.Client(t).StatObject(ctx, s3.Bucket, "keys/"+tk.ID+"/"+storage.KeystrokesName, minio.StatObjectOptions{})
			if exists := err == nil; exists != keystrokes {
				t.Fatalf("keystroke log stored: %t, want %t (%v)", exists, keystrokes, err)
			}
		})
	}
}
