package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sessionconnector/sessionconnector/api/v1alpha1"
	"github.com/sessionconnector/sessionconnector/rdp/preconnection"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
	"github.com/sessionconnector/sessionconnector/sessionstore"
	"github.com/sessionconnector/sessionconnector/ticket"
)

// rejection is a handshake failure with a metric reason and, once a Session is claimed, the
// reason recorded on it. Its message never holds a password or a ticket.
type rejection struct {
	reason  string // metric label, snake_case
	session string // Session status reason, CamelCase; "" when the Session must not change
	msg     string
	err     error
}

func (r *rejection) Error() string {
	if r.err != nil {
		return r.msg + ": " + r.err.Error()
	}
	return r.msg
}

func (r *rejection) Unwrap() error { return r.err }

func reject(reason, sessionReason, msg string, err error) *rejection {
	return &rejection{reason: reason, session: sessionReason, msg: msg, err: err}
}

// Session status reasons the proxy writes.
const (
	ReasonTargetUnreachable = "TargetUnreachable"
	ReasonTargetRefused     = "TargetRefused"
	ReasonTargetTLS         = "TargetTLSFailed"
	ReasonTargetAuth        = "TargetAuthenticationFailed"
	ReasonVaultError        = "SecretServerError"
	ReasonClientFailed      = "ClientHandshakeFailed"
	ReasonProtocolError     = "ProtocolError"
	ReasonWrongCluster      = "WrongCluster"
	ReasonIdle              = "IdleTimeout"
	ReasonShutdown          = "ProxyShutdown"
)

// connection is one client connection through its handshake.
type connection struct {
	s        *Server
	id       uint64
	client   net.Conn
	clientIP string
	log      logr.Logger
	started  time.Time

	session *v1alpha1.Session // set once claimed
}

func (s *Server) serveConn(conn net.Conn) {
	c := &connection{s: s, id: s.nextID.Add(1), client: conn, started: s.cfg.Now()}
	c.clientIP = hostOnly(conn.RemoteAddr().String())
	c.log = s.cfg.Logger.WithValues("conn", c.id, "client", conn.RemoteAddr().String())

	select {
	case s.handshakes <- struct{}{}:
	default:
		s.metrics.handshakes.WithLabelValues("rejected", "busy").Inc()
		c.log.Info("connection refused", "reason", "busy", "detail", fmt.Sprintf("%d handshakes in progress", cap(s.handshakes)))
		_ = conn.Close()
		return
	}
	if int(s.sessions.Load()) >= s.cfg.MaxSessions {
		<-s.handshakes
		s.metrics.handshakes.WithLabelValues("rejected", "capacity").Inc()
		c.log.Info("connection refused", "reason", "capacity", "detail", fmt.Sprintf("this proxy already relays %d sessions", s.cfg.MaxSessions))
		_ = conn.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
	_ = conn.SetDeadline(c.started.Add(s.cfg.HandshakeTimeout))
	stopWatch := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) }) // also unblocks on shutdown
	legs, err := c.handshake(ctx)
	stopWatch()
	cancel()
	<-s.handshakes
	if err != nil {
		c.fail(err)
		_ = conn.Close()
		return
	}
	defer legs.creds.zero()
	s.untrack(conn) // from here the relay closes it, on stop with the reason ProxyShutdown
	c.relay(legs)
}

// fail logs a handshake failure, counts it and records it on the claimed Session.
func (c *connection) fail(err error) {
	var r *rejection
	if !errors.As(err, &r) {
		r = reject("internal", ReasonProtocolError, "handshake failed", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		r = reject("timeout", "HandshakeTimeout", fmt.Sprintf("handshake not finished within %s (%s)", c.s.cfg.HandshakeTimeout, r.msg), err)
	}
	c.s.metrics.handshakes.WithLabelValues("rejected", r.reason).Inc()
	kv := []any{"reason", r.reason, "detail", r.msg}
	if r.err != nil {
		kv = append(kv, "error", r.err.Error())
	}
	if c.session != nil {
		kv = append(kv, "session", c.session.Name, "user", c.session.Spec.User, "secretId", c.session.Spec.SecretID, "target", c.session.Spec.Target)
	}
	c.log.Info("connection rejected", kv...)
	if c.session != nil && r.session != "" {
		c.endSession(v1alpha1.SessionRejected, r.session, r.msg)
	}
}

func (c *connection) endSession(phase v1alpha1.SessionPhase, reason, msg string, recording ...*v1alpha1.RecordingReference) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := metav1.NewTime(c.s.cfg.Now())
	_, err := c.s.cfg.Store.UpdateStatus(ctx, c.session.Name, func(st *v1alpha1.SessionStatus) error {
		st.Phase, st.Reason, st.Message, st.EndedAt = phase, reason, msg, &now
		if len(recording) > 0 && recording[0] != nil {
			st.Recording = recording[0]
		}
		return nil
	})
	if err != nil {
		c.log.Error(err, "could not record the end of the session", "session", c.session.Name)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// readClientHello reads an optional Preconnection PDU and the Connection Request; it returns the
// request and the ticket text from the routing token (or the Preconnection PDU's string).
func (c *connection) readClientHello(r *bufio.Reader) (*x224.ConnectionRequest, string, error) {
	first, err := r.Peek(1)
	if err != nil {
		return nil, "", reject("no_request", "", "the client sent nothing", err)
	}
	var pcbTicket string
	if preconnection.Starts(first[0]) {
		pdu, err := preconnection.Read(r)
		if err != nil {
			return nil, "", reject("malformed", "", "not an RDP connection (bad Preconnection PDU)", err)
		}
		pcbTicket = pdu.PCB
	}
	frame, err := tpkt.ReadFrame(r, 1024)
	if err != nil {
		return nil, "", reject("malformed", "", "not an RDP connection (no TPKT Connection Request)", err)
	}
	req, err := x224.ParseConnectionRequest(frame)
	if err != nil {
		return nil, "", reject("malformed", "", "malformed X.224 Connection Request", err)
	}
	text := strings.TrimSpace(string(req.RoutingToken))
	if text == "" {
		text = strings.TrimSpace(pcbTicket)
	}
	return req, text, nil
}

// ticketOf parses the ticket text a client sent.
func ticketOf(req *x224.ConnectionRequest, text string) (ticket.Ticket, error) {
	if text == "" {
		detail := "the Connection Request carries no routing token (open the downloaded .rdp file)"
		if req.Cookie != "" {
			detail = "the client sent a cookie instead of a ticket (open the downloaded .rdp file)"
		}
		return ticket.Ticket{}, reject("no_ticket", "", detail, nil)
	}
	tk, err := ticket.Parse(text)
	if err != nil {
		return ticket.Ticket{}, reject("bad_ticket", "", "the routing token is not a ticket", err)
	}
	return tk, nil
}

// refuseNegotiation answers a Connection Request with RDP_NEG_FAILURE.
func (c *connection) refuseNegotiation(req *x224.ConnectionRequest, code uint32) {
	cc := &x224.ConnectionConfirm{DstRef: req.SrcRef, Failure: &x224.NegotiationFailure{Code: code}}
	if b, err := cc.Marshal(); err == nil {
		_, _ = c.client.Write(b)
	}
}

// legs are the two TLS connections after a successful handshake, with what the relay needs.
type legs struct {
	client, target       net.Conn
	clientRaw, targetRaw *batchConn // under the TLS conns
	channels             *channels
	tgt                  *target
	tap                  *tap // nil when the session is not recorded
	creds                *credentials
}

// handshake runs everything up to the relay.
func (c *connection) handshake(ctx context.Context) (*legs, error) {
	br := bufio.NewReaderSize(c.client, 2048)
	req, text, err := c.readClientHello(br)
	if err != nil {
		return nil, err
	}
	if req.Neg == nil || req.Neg.RequestedProtocols&x224.ProtocolSSL == 0 {
		c.refuseNegotiation(req, x224.FailureSSLRequiredByServer)
		return nil, reject("standard_rdp_security", "", "the client offers only standard RDP security; TLS is required", nil)
	}
	if req.Neg.Flags&(x224.FlagRestrictedAdminModeRequired|x224.FlagRedirectedAuthenticationModeRequired) != 0 {
		c.refuseNegotiation(req, x224.FailureSSLNotAllowedByServer)
		return nil, reject("restricted_admin", "", "the client requires Restricted Admin or Remote Credential Guard mode, which a credential-injecting proxy cannot serve", nil)
	}
	tk, err := ticketOf(req, text)
	if err != nil {
		return nil, err
	}
	c.log = c.log.WithValues("session", tk.ID)

	sess, reused, err := c.s.cfg.Store.Claim(ctx, tk, sessionstore.ClaimRequest{ClientAddress: c.clientIP, Proxy: c.s.cfg.Name})
	if err != nil {
		reason := sessionstore.RejectReason(err)
		return nil, reject("ticket_"+reason, "", ticketDetail(reason), err)
	}
	c.session = sess
	if c.s.cfg.Cluster != "" && sess.Spec.ClusterRef != c.s.cfg.Cluster {
		return nil, reject("wrong_cluster", ReasonWrongCluster, fmt.Sprintf("the session belongs to cluster %q, not to this proxy's", sess.Spec.ClusterRef), nil)
	}
	if reused {
		c.log.Info("ticket presented again inside the reuse window", "user", sess.Spec.User)
	}

	tgt, err := c.connectTarget(ctx, sess, req)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = tgt.conn.Close()
		}
	}()
	var rec *tap
	if tgt.cluster.Spec.RecordingStorage != nil {
		if rec, err = c.startRecording(ctx, sess, tgt); err != nil {
			c.s.metrics.recordings.WithLabelValues(recordingNotStarted).Inc()
			if tgt.launcher.Spec.RecordingPolicy != v1alpha1.RecordingBestEffort {
				return nil, reject("recording_unavailable", ReasonRecordingUnavailable, "the session cannot be recorded, and its launcher requires recording", err)
			}
			c.log.Info("WARNING: the session runs unrecorded (launcher policy BestEffort)", "error", err.Error())
		}
		tgt.recorded = rec != nil
	}
	defer func() {
		if !ok && rec != nil {
			c.abandonRecording(rec, tgt.cluster.Spec.RecordingStorage)
		}
	}()

	// Answer the client: TLS, whatever the target chose.
	cc := &x224.ConnectionConfirm{DstRef: req.SrcRef, Response: &x224.NegotiationResponse{
		Flags:            tgt.responseFlags &^ (x224.RespFlagRestrictedAdminModeSupported | x224.RespFlagRedirectedAuthenticationModeSupported),
		SelectedProtocol: x224.ProtocolSSL,
	}}
	confirm, err := cc.Marshal()
	if err != nil {
		return nil, reject("internal", ReasonProtocolError, "could not build the Connection Confirm", err)
	}
	if _, err := c.client.Write(confirm); err != nil {
		return nil, reject("client_gone", ReasonClientFailed, "the client went away before TLS", err)
	}
	if br.Buffered() > 0 {
		return nil, reject("malformed", ReasonClientFailed, "the client sent data before the TLS handshake", nil)
	}
	clientRaw := &batchConn{Conn: c.client}
	clientTLS := tls.Server(clientRaw, &tls.Config{GetCertificate: c.s.cert.GetCertificate, MinVersion: tls.VersionTLS12})
	if err := clientTLS.HandshakeContext(ctx); err != nil {
		return nil, reject("client_tls", ReasonClientFailed, "TLS handshake with the client failed", err)
	}

	ch, err := c.connectSequence(ctx, clientTLS, tgt, req)
	if err != nil {
		return nil, err
	}
	ok = true
	return &legs{client: clientTLS, target: tgt.conn, clientRaw: clientRaw, targetRaw: tgt.raw, channels: ch, creds: &tgt.creds,
		tgt: tgt, tap: rec}, nil
}

func ticketDetail(reason string) string {
	switch reason {
	case "unknown":
		return "no session has this ticket"
	case "forged":
		return "the ticket's secret part is wrong"
	case "expired":
		return "the ticket has expired"
	case "reused":
		return "the ticket was already used"
	default:
		return "the ticket could not be checked"
	}
}

// relay runs the session until it ends.
func (c *connection) relay(l *legs) {
	s := c.s
	if int(s.sessions.Add(1)) > s.cfg.MaxSessions {
		s.sessions.Add(-1)
		s.metrics.handshakes.WithLabelValues("rejected", "capacity").Inc()
		c.log.Info("connection rejected", "reason", "capacity", "detail", fmt.Sprintf("this proxy already relays %d sessions", s.cfg.MaxSessions))
		c.endSession(v1alpha1.SessionRejected, "ProxyAtCapacity", "the proxy was at its session limit")
		_ = l.client.Close()
		_ = l.target.Close()
		if l.tap != nil {
			c.abandonRecording(l.tap, l.tgt.cluster.Spec.RecordingStorage)
		}
		return
	}
	defer s.sessions.Add(-1)
	s.metrics.active.Inc()
	defer s.metrics.active.Dec()
	_ = l.client.SetDeadline(time.Time{})
	_ = l.target.SetDeadline(time.Time{})

	r := &relay{client: l.client, target: l.target, clientRaw: l.clientRaw, targetRaw: l.targetRaw, channels: l.channels, creds: l.creds,
		tap: l.tap, recordingRequired: l.tgt.launcher.Spec.RecordingPolicy != v1alpha1.RecordingBestEffort,
		idleTimeout: s.cfg.IdleTimeout, activationDeadline: c.started.Add(2 * s.cfg.HandshakeTimeout), stop: s.stop,
		toTarget: s.metrics.bytes.WithLabelValues("client_to_target"), toClient: s.metrics.bytes.WithLabelValues("target_to_client")}
	var activeOnce sync.Once
	activated := make(chan struct{})
	r.onActive = func() {
		activeOnce.Do(func() {
			defer close(activated)
			s.metrics.handshakes.WithLabelValues("ok", "").Inc()
			s.metrics.latency.Observe(s.cfg.Now().Sub(c.started).Seconds())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			now := metav1.NewTime(s.cfg.Now())
			if _, err := s.cfg.Store.UpdateStatus(ctx, c.session.Name, func(st *v1alpha1.SessionStatus) error {
				st.Phase, st.Reason, st.Message, st.StartedAt = v1alpha1.SessionActive, "Connected", "the user is on the target", &now
				return nil
			}); err != nil {
				c.log.Error(err, "could not record the start of the session")
			}
			c.log.Info("session started", "user", c.session.Spec.User, "secretId", c.session.Spec.SecretID,
				"target", c.session.Spec.Target, "handshakeSeconds", s.cfg.Now().Sub(c.started).Seconds(), "blockedChannels", len(l.channels.blocked))
		})
	}
	why, perr := r.run()
	if r.active.Load() {
		<-activated // the Active write lands before the Ended one
	}
	var recording *v1alpha1.RecordingReference
	if l.tap != nil {
		recording = c.finishRecording(l.tgt, l.tap, c.started)
	}
	s.metrics.ended.WithLabelValues(why).Inc()
	kv := []any{"reason", why, "seconds", s.cfg.Now().Sub(c.started).Seconds()}
	if perr != nil {
		kv = append(kv, "error", perr.Error())
	}
	if !r.active.Load() {
		s.metrics.handshakes.WithLabelValues("rejected", "not_activated").Inc()
		detail := "the session ended before it became active: " + strings.ReplaceAll(why, "_", " ")
		c.log.Info("connection rejected", append(kv, "detail", detail)...)
		c.endSession(v1alpha1.SessionRejected, sessionReason(why), detail, recording)
		return
	}
	c.endSession(v1alpha1.SessionEnded, sessionReason(why), "the session ended: "+strings.ReplaceAll(why, "_", " "), recording)
	c.log.Info("session ended", kv...)
}

func sessionReason(why string) string {
	switch why {
	case endClient:
		return v1alpha1.ReasonClientDisconnect
	case endTarget:
		return v1alpha1.ReasonTargetDisconnect
	case endIdle:
		return ReasonIdle
	case endShutdown:
		return ReasonShutdown
	case endActivation:
		return "ActivationTimeout"
	case endRecording:
		return ReasonRecordingUnavailable
	default:
		return ReasonProtocolError
	}
}
