package credssp_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/credssp"
	"github.com/sessionconnector/sessionconnector/rdp/ntlm"
	"github.com/sessionconnector/sessionconnector/test/nlapeer"
)

// TestRealShadowServer authenticates against a real NLA server: the FreeRDP shadow server with a
// SAM file (see package test/nlapeer; skipped when it is not installed, unless
// SC_REQUIRE_PEERS=1).
func TestRealShadowServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Xvfb and freerdp-shadow-cli")
	}
	peer := nlapeer.Start(t)
	right := ntlm.Credentials{Domain: peer.Domain, User: peer.User, Password: peer.Password}

	attempt := func(t *testing.T, creds ntlm.Credentials, pub func([]byte) []byte) (net.Conn, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := peer.DialHybrid(ctx)
		if err != nil {
			t.Fatalf("DialHybrid: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		cert := conn.ConnectionState().PeerCertificates[0]
		key, err := credssp.PublicKeyFromTLS(conn.ConnectionState())
		if err != nil {
			t.Fatal(err)
		}
		// For RSA the SubjectPublicKey is the PKCS #1 RSAPublicKey.
		if rsaKey, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !bytes.Equal(key, x509.MarshalPKCS1PublicKey(rsaKey)) {
			t.Fatalf("SubjectPublicKey %x is not the certificate's RSAPublicKey", key)
		}
		if pub != nil {
			key = pub(key)
		}
		host, _, _ := net.SplitHostPort(peer.Addr)
		return conn, credssp.Authenticate(ctx, conn, key, creds, &credssp.Options{TargetName: "TERMSRV/" + host})
	}

	t.Run("right password", func(t *testing.T) {
		conn, err := attempt(t, right, nil)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		// The server took the credentials and now waits for the MCS Connect Initial: the
		// connection stays open and silent.
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("after the credentials the server sent %d bytes / %v, want silence", n, err)
		}
		if out := peer.Output(); strings.Contains(out, "authentication failure") {
			t.Errorf("server log reports a failure:\n%s", out)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		wrong := right
		wrong.Password = "Not-The-Password-1"
		_, err := attempt(t, wrong, nil)
		if !errors.Is(err, credssp.ErrAuthFailed) {
			t.Fatalf("Authenticate: %v, want ErrAuthFailed", err)
		}
		if strings.Contains(err.Error(), wrong.Password) {
			t.Errorf("error shows the password: %v", err)
		}
		t.Logf("wrong password: %v", err)
		if !peer.WaitOutput("MIC) verification failed", 5*time.Second) {
			t.Errorf("server did not log a MIC verification failure:\n%s", peer.Output())
		}
	})

	t.Run("unknown user", func(t *testing.T) {
		unknown := right
		unknown.User = "nobody"
		if _, err := attempt(t, unknown, nil); !errors.Is(err, credssp.ErrAuthFailed) {
			t.Fatalf("Authenticate: %v, want ErrAuthFailed", err)
		}
	})

	t.Run("wrong public key", func(t *testing.T) {
		_, err := attempt(t, right, func(k []byte) []byte {
			k = bytes.Clone(k)
			k[len(k)-1] ^= 1
			return k
		})
		if err == nil {
			t.Fatal("Authenticate succeeded with another public key")
		}
		t.Logf("wrong public key: %v", err)
	})

	t.Run("again", func(t *testing.T) {
		if _, err := attempt(t, right, nil); err != nil {
			t.Fatalf("Authenticate after failures: %v", err)
		}
	})
}
