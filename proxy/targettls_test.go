package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/pki"
)

// tlsTarget serves TLS with a certificate for host from a fresh CA.
func tlsTarget(t *testing.T, host string) (addr string, ca *pki.CA, leafSHA256 string) {
	t.Helper()
	ca, err := pki.NewCA("target CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{host}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return ln.Addr().String(), ca, hex.EncodeToString(sum[:])
}

func handshake(t *testing.T, addr string, spec v1alpha1.TargetTLSSpec, host string) error {
	t.Helper()
	cfg, _, err := targetTLSConfig(spec, host)
	if err != nil {
		return err
	}
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	return tls.Client(raw, cfg).Handshake()
}

func TestTargetTLSVerification(t *testing.T) {
	addr, ca, pin := tlsTarget(t, "127.0.0.1")
	_, otherCA, otherPin := tlsTarget(t, "127.0.0.1")
	colonPin := strings.ToUpper(pin[:2]) + ":" + pin[2:]
	cases := map[string]struct {
		spec v1alpha1.TargetTLSSpec
		ok   bool
	}{
		"system roots refuse a private CA": {v1alpha1.TargetTLSSpec{}, false},
		"right CA":                         {v1alpha1.TargetTLSSpec{CABundle: string(ca.CertPEM)}, true},
		"wrong CA":                         {v1alpha1.TargetTLSSpec{CABundle: string(otherCA.CertPEM)}, false},
		"right pin":                        {v1alpha1.TargetTLSSpec{PinnedSHA256: []string{otherPin, pin}}, true},
		"pin with colons and capitals":     {v1alpha1.TargetTLSSpec{PinnedSHA256: []string{colonPin}}, true},
		"wrong pin":                        {v1alpha1.TargetTLSSpec{PinnedSHA256: []string{otherPin}}, false},
		"insecure":                         {v1alpha1.TargetTLSSpec{InsecureSkipVerify: true}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := handshake(t, addr, tc.spec, "127.0.0.1")
			if (err == nil) != tc.ok {
				t.Fatalf("handshake error %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, insecure, _ := targetTLSConfig(v1alpha1.TargetTLSSpec{InsecureSkipVerify: true}, "x"); !insecure {
		t.Fatal("insecure mode not reported")
	}
	for _, bad := range []v1alpha1.TargetTLSSpec{{PinnedSHA256: []string{"abc"}}, {CABundle: "not PEM"}} {
		if _, _, err := targetTLSConfig(bad, "x"); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	write := func(host string) {
		ca, _ := pki.NewCA("ca")
		c, k, err := ca.IssueServer([]string{host}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(dir, "tls.crt"), c, 0o600)
		_ = os.WriteFile(filepath.Join(dir, "tls.key"), k, 0o600)
	}
	write("first.example")
	now := time.Now()
	clock := func() time.Time { return now }
	r, err := newReloadingCertificate(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), clock, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	first, _ := r.GetCertificate(nil)
	time.Sleep(10 * time.Millisecond) // a different modification time
	write("second.example")
	if same, _ := r.GetCertificate(nil); same != first {
		t.Fatal("reloaded before the check interval")
	}
	now = now.Add(r.interval)
	second, _ := r.GetCertificate(nil)
	if second == first || second.Leaf == nil && len(second.Certificate) == 0 {
		t.Fatal("the changed certificate was not reloaded")
	}
	// A broken file keeps the last good certificate.
	_ = os.WriteFile(filepath.Join(dir, "tls.key"), []byte("broken"), 0o600)
	now = now.Add(r.interval)
	if kept, _ := r.GetCertificate(nil); kept != second {
		t.Fatal("a broken file replaced the certificate")
	}
}
