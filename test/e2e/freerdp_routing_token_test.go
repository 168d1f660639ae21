package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
	"github.com/sessionconnector/sessionconnector/rdpfile"
	"github.com/sessionconnector/sessionconnector/test/peers"
)

// TestFreeRDPSendsLoadBalanceInfoAsRoutingToken opens a .rdp file written by rdpfile with the
// real FreeRDP client and checks, on the proxy's side of the socket, that the ticket in
// loadbalanceinfo arrives as the routing token of the X.224 Connection Request, without a
// cookie, and that enablecredsspsupport:i:0 keeps the client from offering NLA. Both encodings
// Write produces are exercised: ASCII, and UTF-16LE (chosen for a non-ASCII user name).
func TestFreeRDPSendsLoadBalanceInfoAsRoutingToken(t *testing.T) {
	if testing.Short() && !peers.Required() {
		t.Skip("end-to-end test with xfreerdp; skipped in -short mode")
	}
	display := peers.StartXvfb(t)

	for name, user := range map[string]string{
		"ascii file":  "e2e-user",
		"utf-16 file": "Jürgen",
	} {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()

			ticket := "sc1.s-abcdefghij." + randomURLSafe(t, 32)
			f := rdpfile.File{
				FullAddress:              ln.Addr().String(),
				LoadBalanceInfo:          ticket,
				Username:                 user,
				DisableConnectionSharing: true,
				DesktopWidth:             1024,
				DesktopHeight:            768,
			}
			content, err := rdpfile.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			if utf16 := content[0] == 0xFF && content[1] == 0xFE; utf16 != (name == "utf-16 file") {
				t.Fatalf("file encoding: UTF-16 = %t for user %q", utf16, user)
			}
			path := filepath.Join(t.TempDir(), "session.rdp")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			client := peers.RunFreeRDP(ctx, t, display, path, "/cert:ignore")

			type accepted struct {
				conn net.Conn
				err  error
			}
			acc := make(chan accepted, 1)
			go func() {
				c, err := ln.Accept()
				acc <- accepted{c, err}
			}()
			var conn net.Conn
			select {
			case a := <-acc:
				if a.err != nil {
					t.Fatalf("accept: %v", a.err)
				}
				conn = a.conn
			case <-client.Done():
				t.Fatalf("xfreerdp exited with %d before connecting", client.ExitCode())
			case <-ctx.Done():
				t.Fatal("xfreerdp did not connect within 20 s")
			}
			defer conn.Close()

			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			frame, err := tpkt.ReadFrame(conn, 1024)
			if err != nil {
				t.Fatalf("read Connection Request: %v", err)
			}
			req, err := x224.ParseConnectionRequest(frame)
			if err != nil {
				t.Fatalf("parse Connection Request % x: %v", frame, err)
			}
			if req.Cookie != "" {
				t.Errorf("client sent cookie %q; want a routing token only", req.Cookie)
			}
			if got := strings.TrimRight(string(req.RoutingToken), " "); got != ticket {
				t.Errorf("routing token %q, want %q", req.RoutingToken, ticket)
			}
			if req.Neg == nil {
				t.Errorf("no RDP_NEG_REQ")
			} else {
				t.Logf("requestedProtocols 0x%x, flags 0x%02x", req.Neg.RequestedProtocols, req.Neg.Flags)
				if req.Neg.RequestedProtocols&(x224.ProtocolHybrid|x224.ProtocolHybridEx) != 0 {
					t.Errorf("client offers NLA (0x%x) despite enablecredsspsupport:i:0", req.Neg.RequestedProtocols)
				}
			}

			confirm := &x224.ConnectionConfirm{
				DstRef:  req.SrcRef,
				Failure: &x224.NegotiationFailure{Code: x224.FailureSSLNotAllowedByServer},
			}
			reply, err := confirm.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write(reply); err != nil {
				t.Logf("write Connection Confirm: %v", err)
			}
			client.Stop()
		})
	}
}

func randomURLSafe(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n) // more than needed: 3 bytes give 4 characters
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
