package nlapeer

import (
	"context"
	"testing"
	"time"
)

func TestStartAndDialHybrid(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Xvfb and freerdp-shadow-cli")
	}
	p := Start(t)
	if p.Addr == "" || p.User != DefaultUser || p.Password != DefaultPassword || p.Domain != "" {
		t.Fatalf("peer at %q for %q (domain %q)", p.Addr, p.User, p.Domain)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := p.DialHybrid(ctx)
	if err != nil {
		t.Fatalf("DialHybrid: %v", err)
	}
	defer conn.Close()
	if n := len(conn.ConnectionState().PeerCertificates); n == 0 {
		t.Fatal("no server certificate")
	}
}
