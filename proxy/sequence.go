package proxy

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/sessionconnector/sessionconnector/rdp/x224"
)

// connectSequence relays the MCS Connect Initial/Response with rewrites and the Client Info PDU
// with the secret's credentials.
func (c *connection) connectSequence(ctx context.Context, client *tls.Conn, t *target, req *x224.ConnectionRequest) error {
	return reject("internal", ReasonProtocolError, "connect sequence not wired yet", errors.New("todo"))
}

// authenticateNLA runs CredSSP with the target.
func authenticateNLA(ctx context.Context, conn *tls.Conn, creds *credentials) error {
	return reject("target_auth", ReasonTargetAuth, "NLA not wired yet", errors.New("todo"))
}
