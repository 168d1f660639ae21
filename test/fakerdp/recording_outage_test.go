package fakerdp_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/recorder/storage"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
	"github.com/sessionconnector/sessionconnector/test/s3peer"
)

// TestRecordingSurvivesS3Outage: S3 is stopped for 20 s in the middle of a recorded session;
// the session goes on undisturbed, and the final recording is complete and verifies.
func TestRecordingSurvivesS3Outage(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s outage; skipped in -short mode")
	}
	s3 := s3peer.Start(t)
	lab := fakerdp.StartLab(t, fakerdp.LabOptions{
		Password: secretPassword, S3AccessKey: s3.AccessKey, S3SecretKey: s3.SecretKey,
		Cluster: func(c *v1alpha1.RDSCluster) {
			c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "http://" + s3.Endpoint, Bucket: s3.Bucket,
				Prefix: "rec", CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
		},
		Config: func(c *proxy.Config) { c.SpoolDir = t.TempDir() },
	})
	tk := lab.Issue(t)
	c, err := fakerdp.Dial(dialContext(t), lab.Addr, tk.Text(), fakerdp.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	ping := func() {
		t.Helper()
		if err := c.Send(mustFrame(t, c, 200)); err != nil {
			t.Fatal(err)
		}
		_ = c.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Recv(); err != nil {
			t.Fatalf("the session broke: %v", err)
		}
		sent++
	}
	for range 10 {
		ping()
	}
	s3.Stop()
	outage := time.Now().Add(20 * time.Second)
	for time.Now().Before(outage) {
		ping()
		time.Sleep(250 * time.Millisecond)
	}
	s3.Restart()
	for range 10 {
		ping()
	}
	c.Close()
	s := lab.WaitPhase(t, tk.ID, v1alpha1.SessionEnded, time.Minute)
	if s.Status.Recording == nil || !s.Status.Recording.Complete {
		t.Fatalf("recording reference %+v", s.Status.Recording)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := storage.Verify(ctx, s3.Client(t), s3.Bucket, "rec", tk.ID)
	if err != nil {
		t.Fatalf("the recording does not verify: %v", err)
	}
	if rep.Records < 2*sent || rep.Chunks < 5 {
		t.Fatalf("recording has %d records in %d chunks, want at least %d records (both directions) over the 20 s", rep.Records, rep.Chunks, 2*sent)
	}
}
