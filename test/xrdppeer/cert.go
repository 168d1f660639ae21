package xrdppeer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"
)

// serverCert is the certificate and key every peer of this process presents; RSA key
// generation takes long enough to be worth doing once.
var serverCert = sync.OnceValues(func() (pemPair, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return pemPair{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return pemPair{}, fmt.Errorf("serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "xrdppeer.sessionconnector.test"},
		DNSNames:              []string{"xrdppeer.sessionconnector.test", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return pemPair{}, fmt.Errorf("create certificate: %w", err)
	}
	return pemPair{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
	}, nil
})

// pemPair is a PEM certificate and its PEM private key.
type pemPair struct{ cert, key []byte }

// certSHA256 returns the hex SHA-256 of the DER certificate in certPEM.
func certSHA256(certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM certificate")
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// x224TLSRequest is a TPKT-framed X.224 Connection Request whose RDP Negotiation Request asks
// for TLS alone (PROTOCOL_SSL), as [MS-RDPBCGR] 2.2.1.1 lays it out.
var x224TLSRequest = []byte{
	0x03, 0x00, 0x00, 0x13, // TPKT version 3, length 19
	0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, // X.224 CR: length indicator 14, DST-REF, SRC-REF, class 0
	0x01, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, // RDP_NEG_REQ, flags 0, length 8, PROTOCOL_SSL
}

// PresentedCertSHA256 connects to the RDP server at addr, negotiates TLS-only security in the
// X.224 exchange, completes the TLS handshake without verifying the certificate, and returns
// the hex SHA-256 of the DER certificate the server presents — the value a client pins. It
// works against any RDP server that accepts TLS security (xrdp, the proxy, Windows).
func PresentedCertSHA256(ctx context.Context, addr string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if _, err := conn.Write(x224TLSRequest); err != nil {
		return "", fmt.Errorf("send connection request: %w", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return "", fmt.Errorf("read connection confirm: %w", err)
	}
	n := int(hdr[2])<<8 | int(hdr[3])
	if hdr[0] != 3 || n < 11 || n > 512 {
		return "", fmt.Errorf("connection confirm: bad TPKT header % x", hdr)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(conn, body); err != nil {
		return "", fmt.Errorf("read connection confirm: %w", err)
	}
	// X.224 CC (0xd0) followed by RDP_NEG_RSP (type 2) selecting PROTOCOL_SSL (1).
	if body[1]&0xf0 != 0xd0 || len(body) < 15 {
		return "", fmt.Errorf("connection confirm: unexpected % x", body)
	}
	neg := body[7:]
	if neg[0] != 0x02 || !bytes.Equal(neg[4:8], []byte{1, 0, 0, 0}) {
		return "", fmt.Errorf("connection confirm: server did not select TLS: % x", neg)
	}
	tc := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true, // the point is to read the certificate, not to trust it
		MinVersion:         tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return "", fmt.Errorf("tls handshake: %w", err)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", errors.New("tls handshake: no certificate")
	}
	sum := sha256.Sum256(certs[0].Raw)
	return hex.EncodeToString(sum[:]), nil
}
