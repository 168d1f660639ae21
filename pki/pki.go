// Package pki creates small self-signed certificate authorities and server
// certificates for tests, the demo and the Secret Server emulator. It is not
// meant for production certificates.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names used by EnsureServerFiles.
const (
	CAFileName   = "ca.crt"
	CertFileName = "tls.crt"
	KeyFileName  = "tls.key"
)

// DefaultServerValidity is the lifetime of server certificates created by
// EnsureServerFiles.
const DefaultServerValidity = 365 * 24 * time.Hour

// CA is a certificate authority held in memory.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// Files holds the paths written or found by EnsureServerFiles. CA is empty
// when existing certificates were found without a ca.crt next to them.
type Files struct {
	CA, Cert, Key string
}

// NewCA creates a self-signed ECDSA P-256 CA valid for ten years.
func NewCA(commonName string) (*CA, error) {
	if commonName == "" {
		commonName = "Session Connector development CA"
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodePEM("CERTIFICATE", der)}, nil
}

// IssueServer issues a server certificate for hosts: IP literals become IP
// SANs, everything else DNS SANs. The certificate never outlives the CA. The
// key is returned as a PKCS#8 PEM block.
func (ca *CA) IssueServer(hosts []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(hosts) == 0 {
		return nil, nil, errors.New("pki: at least one host is required")
	}
	if validity <= 0 {
		return nil, nil, errors.New("pki: validity must be positive")
	}
	var ips []net.IP
	var names []string
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]")
		if h == "" {
			return nil, nil, errors.New("pki: empty host name")
		}
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else {
			names = append(names, h)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: strings.TrimSpace(hosts[0])},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: encode server key: %w", err)
	}
	return encodePEM("CERTIFICATE", der), encodePEM("PRIVATE KEY", keyDER), nil
}

// EnsureServerFiles returns the server certificate in dir, creating it first
// when dir/tls.crt and dir/tls.key do not both exist: a new CA and a
// certificate for hosts are written to ca.crt, tls.crt and tls.key (mode 0600).
// Existing files are never overwritten. It is not safe for several processes
// to create files in the same empty dir at the same time.
func EnsureServerFiles(dir string, hosts []string) (Files, error) {
	f := Files{
		CA:   filepath.Join(dir, CAFileName),
		Cert: filepath.Join(dir, CertFileName),
		Key:  filepath.Join(dir, KeyFileName),
	}
	haveCert, err := exists(f.Cert)
	if err != nil {
		return Files{}, err
	}
	haveKey, err := exists(f.Key)
	if err != nil {
		return Files{}, err
	}
	switch {
	case haveCert && haveKey:
		haveCA, err := exists(f.CA)
		if err != nil {
			return Files{}, err
		}
		if !haveCA {
			f.CA = ""
		}
		return f, nil
	case haveCert:
		return Files{}, fmt.Errorf("pki: %s exists without %s", f.Cert, KeyFileName)
	case haveKey:
		return Files{}, fmt.Errorf("pki: %s exists without %s", f.Key, CertFileName)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("pki: create certificate directory: %w", err)
	}
	ca, err := NewCA("")
	if err != nil {
		return Files{}, err
	}
	certPEM, keyPEM, err := ca.IssueServer(hosts, DefaultServerValidity)
	if err != nil {
		return Files{}, err
	}
	// The certificate is written last: its presence marks a complete set.
	for _, w := range []struct {
		path string
		data []byte
		mode fs.FileMode
	}{{f.CA, ca.CertPEM, 0o644}, {f.Key, keyPEM, 0o600}, {f.Cert, certPEM, 0o644}} {
		if err := writeFileAtomic(w.path, w.data, w.mode); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// CertPool parses all PEM certificates in pemBytes into a new pool. Blocks of
// other types are skipped; an unparsable certificate or a bundle without any
// certificate is an error.
func CertPool(pemBytes []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := pemBytes; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse certificate %d in bundle: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, errors.New("pki: no PEM certificate found in CA bundle")
	}
	return pool, nil
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: generate serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}

func encodePEM(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("pki: %w", err)
	}
}

// writeFileAtomic writes data to a temporary file in the same directory and
// renames it into place, so readers never see a partial file.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}
