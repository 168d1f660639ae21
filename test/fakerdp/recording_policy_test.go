package fakerdp_test

import (
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/proxy"
	"github.com/sessionconnector/sessionconnector/test/fakerdp"
)

// TestRecordingPolicy: when a cluster records but the recording cannot start (here: the proxy
// has no spool folder), a Required launcher refuses the session with a clear reason and a
// BestEffort launcher lets it run unrecorded.
func TestRecordingPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy v1alpha1.RecordingPolicy
		works  bool
	}{
		{v1alpha1.RecordingRequired, false},
		{v1alpha1.RecordingBestEffort, true},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			lab := fakerdp.StartLab(t, fakerdp.LabOptions{
				Password: secretPassword,
				Cluster: func(c *v1alpha1.RDSCluster) {
					c.Spec.RecordingStorage = &v1alpha1.RecordingStorageSpec{Endpoint: "http://127.0.0.1:1", Bucket: "recordings",
						CredentialsSecretRef: v1alpha1.LocalSecretReference{Name: "s3"}}
				},
				Launcher: func(l *v1alpha1.SessionLauncher) { l.Spec.RecordingPolicy = tc.policy },
			})
			tk := lab.Issue(t)
			c, err := fakerdp.Dial(dialContext(t), lab.Addr, tk.Text(), fakerdp.ClientOptions{})
			if !tc.works {
				if err == nil {
					c.Close()
					t.Fatal("a session that cannot be recorded was let through")
				}
				s := lab.WaitPhase(t, tk.ID, v1alpha1.SessionRejected, 5*time.Second)
				if s.Status.Reason != proxy.ReasonRecordingUnavailable {
					t.Fatalf("status %+v", s.Status)
				}
				if lab.Target.Stats().Logons != 0 {
					t.Fatal("the target got the credentials of a session that was refused")
				}
				if n := lab.Metric("sessionconnector_recordings_total", "outcome", "not_started"); n != 1 {
					t.Fatalf("%v recordings counted as not started, want 1", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("BestEffort session: %v", err)
			}
			defer c.Close()
			s := lab.WaitPhase(t, tk.ID, v1alpha1.SessionActive, 5*time.Second)
			if s.Status.Recording != nil {
				t.Fatalf("an unrecorded session has a recording reference %+v", s.Status.Recording)
			}
		})
	}
}
