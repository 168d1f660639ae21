package xrdppeer

import (
	"fmt"
	"strings"
	"testing"
)

// Redacting returns a testing.TB that behaves like t but removes the peer's password from
// everything logged or reported through it. Pass it to helpers that log their arguments or
// output on failure — peers.RunFreeRDP logs its command line, "/p:<password>" included:
//
//	client := peers.RunFreeRDP(ctx, p.Redacting(t), display, "/v:"+p.Addr, "/p:"+p.Password, …)
func (p *Peer) Redacting(t testing.TB) testing.TB {
	return redactingTB{TB: t, p: p}
}

type redactingTB struct {
	testing.TB
	p *Peer
}

func (r redactingTB) line(args []any) string {
	return r.p.Redact(strings.TrimSuffix(fmt.Sprintln(args...), "\n"))
}

func (r redactingTB) Log(args ...any) { r.TB.Helper(); r.TB.Log(r.line(args)) }
func (r redactingTB) Logf(format string, args ...any) {
	r.TB.Helper()
	r.TB.Log(r.p.Redact(fmt.Sprintf(format, args...)))
}
func (r redactingTB) Error(args ...any) { r.TB.Helper(); r.TB.Error(r.line(args)) }
func (r redactingTB) Errorf(format string, args ...any) {
	r.TB.Helper()
	r.TB.Error(r.p.Redact(fmt.Sprintf(format, args...)))
}
func (r redactingTB) Fatal(args ...any) { r.TB.Helper(); r.TB.Fatal(r.line(args)) }
func (r redactingTB) Fatalf(format string, args ...any) {
	r.TB.Helper()
	r.TB.Fatal(r.p.Redact(fmt.Sprintf(format, args...)))
}
func (r redactingTB) Skip(args ...any) { r.TB.Helper(); r.TB.Skip(r.line(args)) }
func (r redactingTB) Skipf(format string, args ...any) {
	r.TB.Helper()
	r.TB.Skip(r.p.Redact(fmt.Sprintf(format, args...)))
}
