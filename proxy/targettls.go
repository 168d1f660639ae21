package proxy

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/pki"
)

// targetTLSConfig builds the TLS client configuration for a target from the cluster's
// TargetTLSSpec: pinned fingerprints, a CA bundle (host name checked), explicit insecure, or by
// default the system roots with the host name checked. insecure reports the last-but-one case so
// the caller can log a warning for every connection.
func targetTLSConfig(spec v1alpha1.TargetTLSSpec, host string) (cfg *tls.Config, insecure bool, err error) {
	cfg = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// RDP servers speak TLS without ALPN or session tickets of interest, and do not use
		// post-quantum key shares: offering one only costs a key generation per connection.
		SessionTicketsDisabled: true,
		CurvePreferences:       []tls.CurveID{tls.X25519, tls.CurveP256, tls.CurveP384},
	}
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	switch {
	case spec.InsecureSkipVerify:
		cfg.InsecureSkipVerify = true
		return cfg, true, nil
	case len(spec.PinnedSHA256) > 0:
		pins := make([][]byte, 0, len(spec.PinnedSHA256))
		for _, p := range spec.PinnedSHA256 {
			b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(p), ":", ""))
			if err != nil || len(b) != sha256.Size {
				return nil, false, fmt.Errorf("pinned fingerprint %q is not a hex SHA-256", p)
			}
			pins = append(pins, b)
		}
		// The pin replaces chain verification: RDP servers mostly present self-signed certificates.
		cfg.InsecureSkipVerify = true
		cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("the target presented no certificate")
			}
			sum := sha256.Sum256(raw[0])
			for _, pin := range pins {
				if subtle.ConstantTimeCompare(sum[:], pin) == 1 {
					return nil
				}
			}
			return fmt.Errorf("the target's certificate (SHA-256 %s) matches no pinned fingerprint", hex.EncodeToString(sum[:]))
		}
		return cfg, false, nil
	case spec.CABundle != "":
		pool, err := pki.CertPool([]byte(spec.CABundle))
		if err != nil {
			return nil, false, fmt.Errorf("targetTLS.caBundle: %w", err)
		}
		cfg.RootCAs = pool
		if cfg.ServerName == "" {
			cfg.ServerName = host // Go checks IP SANs for an IP
		}
		return cfg, false, nil
	default:
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		return cfg, false, nil
	}
}
