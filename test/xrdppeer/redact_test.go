package xrdppeer

import (
	"fmt"
	"strings"
	"testing"
)

// recordingTB is a testing.TB that records what is logged through it.
type recordingTB struct {
	testing.TB
	logged []string
}

func (r *recordingTB) Log(args ...any) { r.logged = append(r.logged, fmt.Sprint(args...)) }

func TestRedactingRemovesPassword(t *testing.T) {
	p := &Peer{Password: "Sc1-0123456789abcdef"}
	rec := &recordingTB{TB: t}
	r := p.Redacting(rec)
	r.Logf("xfreerdp /v:127.0.0.1:1 /p:%s (exit %d)", p.Password, 131)
	r.Log("output:", p.Password+"\n")
	got := strings.Join(rec.logged, "|")
	if strings.Contains(got, p.Password) || strings.Count(got, "<redacted>") != 2 {
		t.Errorf("logged %q; want the password redacted twice", got)
	}
	if want := "xfreerdp /v:127.0.0.1:1 /p:<redacted> (exit 131)"; rec.logged[0] != want {
		t.Errorf("Logf logged %q, want %q", rec.logged[0], want)
	}
}
