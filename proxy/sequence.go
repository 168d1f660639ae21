package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/sessionconnector/sessionconnector/rdp/credssp"
	"github.com/sessionconnector/sessionconnector/rdp/ntlm"

	"github.com/sessionconnector/sessionconnector/rdp/x224"
)

// connectSequence relays the MCS Connect Initial/Response with rewrites and the Client Info PDU
// with the secret's credentials.
func (c *connection) connectSequence(ctx context.Context, client *tls.Conn, t *target, req *x224.ConnectionRequest) error {
	return reject("internal", ReasonProtocolError, "connect sequence not wired yet", errors.New("todo"))
}

// authenticateNLA runs CredSSP (NTLMv2) with the target over its TLS connection.
func authenticateNLA(ctx context.Context, conn *tls.Conn, host string, creds *credentials) error {
	pub, err := credssp.PublicKeyFromTLS(conn.ConnectionState())
	if err != nil {
		return reject("target_tls", ReasonTargetTLS, "the target's TLS certificate has no usable public key", err)
	}
	err = credssp.Authenticate(ctx, conn, pub,
		ntlm.Credentials{Domain: creds.domain, User: creds.user, Password: string(creds.password)},
		&credssp.Options{TargetName: "TERMSRV/" + host})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, credssp.ErrAuthFailed):
		return reject("target_auth", ReasonTargetAuth, "the target refused the secret's credentials (NLA)", err)
	case errors.Is(err, credssp.ErrBinding):
		return reject("target_auth", ReasonTargetTLS, "the target's NLA answer does not match its TLS key (a man in the middle?)", err)
	default:
		return reject("target_auth", ReasonTargetAuth, "NLA with the target failed", err)
	}
}
