package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/hostmatch"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
	"github.com/sessionconnector/sessionconnector/secretserver"
)

// credentials for the target, kept only for the handshake.
type credentials struct {
	domain, user string
	password     []byte
}

// zero overwrites the password.
func (c *credentials) zero() {
	for i := range c.password {
		c.password[i] = 0
	}
	c.password = nil
}

// target is the connected target leg.
type target struct {
	conn             *tls.Conn
	raw              *batchConn // under conn
	selectedProtocol uint32
	responseFlags    uint8
	creds            credentials
	cluster          *v1alpha1.RDSCluster
	launcher         *v1alpha1.SessionLauncher
	recorded         bool // the session is recorded: the proxy asks for decodable graphics
}

// credentialsOf takes domain, user name and password from a secret. "DOMAIN\user" splits;
// "user@domain" stays whole (a UPN).
func credentialsOf(s *secretserver.Secret) (credentials, error) {
	user, _ := s.Field("username")
	password, _ := s.Field("password")
	domain, _ := s.Field("domain")
	if user == "" || password == "" {
		return credentials{}, errors.New("the secret has no username or no password")
	}
	if d, u, ok := strings.Cut(user, `\`); ok && domain == "" {
		domain, user = d, u
	}
	return credentials{domain: domain, user: user, password: []byte(password)}, nil
}

// connectTarget fetches the secret, dials the target and sets up X.224, TLS and (when the target
// chooses it) CredSSP.
func (c *connection) connectTarget(ctx context.Context, sess *v1alpha1.Session, req *x224.ConnectionRequest) (*target, error) {
	cfg := c.s.cfg
	cluster, err := cfg.Catalog.Cluster(ctx, sess.Spec.ClusterRef)
	if err != nil {
		return nil, reject("configuration", ReasonVaultError, fmt.Sprintf("cluster %q of the session is not available", sess.Spec.ClusterRef), err)
	}
	launcher, err := cfg.Catalog.Launcher(ctx, sess.Spec.LauncherRef)
	if err != nil || !launcher.Spec.IsActive() {
		return nil, reject("configuration", "LauncherUnavailable", fmt.Sprintf("launcher %q of the session is not available", sess.Spec.LauncherRef), err)
	}
	account, err := cfg.Catalog.ApplicationAccount(ctx, cluster)
	if err != nil {
		return nil, reject("configuration", ReasonVaultError, "the cluster's application account is not available", err)
	}
	app, err := cfg.SecretServers.Application(cluster.Spec.SecretServer.URL, []byte(cluster.Spec.SecretServer.CABundle), account)
	if err != nil {
		return nil, reject("vault", ReasonVaultError, "the Secret Server connection is misconfigured", err)
	}
	secret, err := app.GetSecret(ctx, int(sess.Spec.SecretID))
	if err != nil {
		return nil, reject("vault", ReasonVaultError, fmt.Sprintf("secret %d could not be read with the application account", sess.Spec.SecretID), err)
	}
	creds, err := credentialsOf(secret)
	secret.Zero()
	if err != nil {
		return nil, reject("vault", ReasonVaultError, fmt.Sprintf("secret %d cannot be used", sess.Spec.SecretID), err)
	}
	ok := false
	defer func() {
		if !ok {
			creds.zero()
		}
	}()

	addr, err := hostmatch.ParseTarget(sess.Spec.Target)
	if err != nil {
		return nil, reject("configuration", ReasonTargetUnreachable, "the session's target is not a host:port", err)
	}
	dialCtx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	raw, err := cfg.Dial(dialCtx, "tcp", addr.String())
	cancel()
	if err != nil {
		return nil, reject("target_unreachable", ReasonTargetUnreachable, fmt.Sprintf("could not connect to %s", addr), err)
	}
	defer func() {
		if !ok {
			_ = raw.Close()
		}
	}()
	if dl, has := ctx.Deadline(); has {
		_ = raw.SetDeadline(dl)
	}

	// Our own Connection Request: no routing token, TLS and NLA offered.
	treq := &x224.ConnectionRequest{Cookie: cookieUser(creds.user), Neg: &x224.NegotiationRequest{RequestedProtocols: x224.ProtocolSSL | x224.ProtocolHybrid}}
	frame, err := treq.Marshal()
	if err != nil {
		return nil, reject("internal", ReasonProtocolError, "could not build the Connection Request", err)
	}
	if _, err := raw.Write(frame); err != nil {
		return nil, reject("target_unreachable", ReasonTargetUnreachable, fmt.Sprintf("%s closed the connection", addr), err)
	}
	frame, err = tpkt.ReadFrame(raw, 1024)
	if err != nil {
		return nil, reject("target_refused", ReasonTargetRefused, fmt.Sprintf("%s did not answer like an RDP server", addr), err)
	}
	confirm, err := x224.ParseConnectionConfirm(frame)
	if err != nil {
		return nil, reject("target_refused", ReasonTargetRefused, fmt.Sprintf("%s sent a malformed Connection Confirm", addr), err)
	}
	if confirm.Failure != nil {
		return nil, reject("target_refused", ReasonTargetRefused, fmt.Sprintf("%s refused TLS and NLA (negotiation failure %d)", addr, confirm.Failure.Code), nil)
	}
	if confirm.Response == nil || (confirm.Response.SelectedProtocol != x224.ProtocolSSL && confirm.Response.SelectedProtocol != x224.ProtocolHybrid) {
		return nil, reject("target_refused", ReasonTargetRefused, fmt.Sprintf("%s offers only standard RDP security, which the proxy does not use", addr), nil)
	}

	tlsCfg, insecure, err := targetTLSConfig(cluster.Spec.TargetTLS, addr.Host)
	if err != nil {
		return nil, reject("configuration", ReasonTargetTLS, "the cluster's targetTLS settings are invalid", err)
	}
	if insecure {
		c.log.Info("WARNING: the target's certificate is not verified (targetTLS.insecureSkipVerify)", "target", addr.String())
	}
	batched := &batchConn{Conn: raw}
	conn := tls.Client(batched, tlsCfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		return nil, reject("target_tls", ReasonTargetTLS, fmt.Sprintf("TLS with %s failed", addr), err)
	}
	t := &target{conn: conn, raw: batched, selectedProtocol: confirm.Response.SelectedProtocol, responseFlags: confirm.Response.Flags,
		creds: creds, cluster: cluster, launcher: launcher}
	if t.selectedProtocol == x224.ProtocolHybrid {
		if err := authenticateNLA(ctx, conn, addr.Host, &t.creds); err != nil {
			return nil, err
		}
	}
	ok = true
	return t, nil
}

// cookieUser is the mstshash cookie for the target (some load balancers route on it).
func cookieUser(user string) string {
	if len(user) > 64 || strings.ContainsAny(user, "\r\n") {
		return ""
	}
	return user
}
