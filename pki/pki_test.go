package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestIssueServerVerifiesForEachHost(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA {
		t.Fatal("CA certificate is not a CA")
	}
	hosts := []string{"127.0.0.1", "localhost", "::1", "[fe80::1]", "vault.example.com"}
	certPEM, keyPEM, err := ca.IssueServer(hosts, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key pair: %v", err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := CertPool(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"127.0.0.1", "localhost", "::1", "fe80::1", "vault.example.com"} {
		t.Run(h, func(t *testing.T) {
			_, err := cert.Verify(x509.VerifyOptions{
				DNSName:   h,
				Roots:     pool,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			})
			if err != nil {
				t.Fatalf("verify %s: %v", h, err)
			}
		})
	}
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: pool}); err == nil {
		t.Fatal("certificate verified for a host it was not issued for")
	}
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	otherPool, _ := CertPool(other.CertPEM)
	if _, err := cert.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: otherPool}); err == nil {
		t.Fatal("certificate verified against an unrelated CA")
	}
}

func TestIssueServerRejectsBadInput(t *testing.T) {
	ca, err := NewCA("")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		hosts    []string
		validity time.Duration
	}{
		"no hosts":      {nil, time.Hour},
		"empty host":    {[]string{" "}, time.Hour},
		"zero validity": {[]string{"localhost"}, 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ca.IssueServer(tc.hosts, tc.validity); err == nil {
				t.Fatal("expected an error")
			}
		})
	}
}

func TestEnsureServerFilesIsIdempotent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	first, err := EnsureServerFiles(dir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if first.CA == "" || first.Cert == "" || first.Key == "" {
		t.Fatalf("missing paths: %+v", first)
	}
	info, err := os.Stat(first.Key)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key mode = %v, want 0600", perm)
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode = %v (%v), want 0700", info.Mode().Perm(), err)
	}
	before := readAll(t, first)

	second, err := EnsureServerFiles(dir, []string{"other.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if second != first {
		t.Fatalf("paths changed: %+v != %+v", second, first)
	}
	if after := readAll(t, second); !bytes.Equal(before, after) {
		t.Fatal("second call rewrote the files")
	}

	// Existing certificates without ca.crt are used as they are.
	if err := os.Remove(first.CA); err != nil {
		t.Fatal(err)
	}
	third, err := EnsureServerFiles(dir, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if third.CA != "" || third.Cert != first.Cert {
		t.Fatalf("unexpected files: %+v", third)
	}

	// A key without a certificate is refused rather than overwritten.
	if err := os.Remove(first.Cert); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsureServerFiles(dir, []string{"localhost"}); err == nil {
		t.Fatal("expected an error for a key without a certificate")
	}
}

func TestCertPool(t *testing.T) {
	ca, err := NewCA("")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		in      []byte
		wantErr bool
	}{
		"one cert":        {ca.CertPEM, false},
		"cert and key":    {append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), ca.CertPEM...), false},
		"empty":           {nil, true},
		"not PEM":         {[]byte("hello"), true},
		"broken cert":     {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), true},
		"only other type": {pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pool, err := CertPool(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && pool == nil {
				t.Fatal("nil pool")
			}
		})
	}
}

func readAll(t *testing.T, f Files) []byte {
	t.Helper()
	var out []byte
	for _, p := range []string{f.CA, f.Cert, f.Key} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}
