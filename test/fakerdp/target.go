package fakerdp

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessionconnector/sessionconnector/pki"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
)

// TargetOptions configure a Target.
type TargetOptions struct {
	// Password is what a Client Info PDU must carry for a logon to count as good. It is
	// compared with pdu.ClientInfo.PasswordEqual and kept nowhere else.
	Password string
	// HandshakeTimeout bounds a connection from its Connection Request to its Client Info PDU;
	// 30 s when zero.
	HandshakeTimeout time.Duration
}

// Logon is what a Client Info PDU carried.
type Logon struct {
	Domain, User string
	// PasswordOK says whether the password equalled TargetOptions.Password.
	PasswordOK bool
	// Autologon says whether INFO_AUTOLOGON was set.
	Autologon bool
}

// TargetStats are the counters of a Target.
type TargetStats struct {
	// Connections accepted, Active ones in the echo phase now.
	Connections, Active int64
	// Logons is the number of Client Info PDUs received, GoodLogons those with the right
	// password.
	Logons, GoodLogons int64
	// EchoedPDUs and EchoedBytes count what the echo phase sent back.
	EchoedPDUs, EchoedBytes int64
}

// Target is a fake RDP server: it negotiates TLS, answers the MCS connect sequence as xrdp
// does, records the credentials of the Client Info PDU, sends a Demand Active PDU and then
// echoes every PDU it receives back to the sender unchanged.
type Target struct {
	// Addr is the listening address, 127.0.0.1:port.
	Addr string

	opts       TargetOptions
	tlsConfig  *tls.Config
	certSHA256 string
	ln         net.Listener

	connections, active, logons, goodLogons atomic.Int64
	echoed                                  echoCounters

	mu      sync.Mutex
	history []Logon
	conns   map[net.Conn]struct{}
	closed  bool
	errs    []error // protocol errors of connections, for Err
	wg      sync.WaitGroup
}

// StartTarget starts a Target on 127.0.0.1 with a new certificate; it stops with the test.
func StartTarget(t testing.TB, opts TargetOptions) *Target {
	t.Helper()
	tgt, err := NewTarget(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tgt.Close)
	return tgt
}

// NewTarget starts a Target outside a test; Close stops it.
func NewTarget(opts TargetOptions) (*Target, error) {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	ca, err := pki.NewCA("fakerdp target")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueServer([]string{"127.0.0.1", "localhost"}, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("fakerdp: target certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("fakerdp: target certificate: %w", err)
	}
	sum := sha256.Sum256(leaf.Raw)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fakerdp: listen: %w", err)
	}
	tgt := &Target{
		Addr:       ln.Addr().String(),
		opts:       opts,
		tlsConfig:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		certSHA256: hex.EncodeToString(sum[:]),
		ln:         ln,
		conns:      map[net.Conn]struct{}{},
	}
	tgt.wg.Add(1)
	go tgt.accept()
	return tgt, nil
}

// CertSHA256 is the SHA-256 fingerprint (hex) of the target's certificate, for an RDSCluster's
// spec.targetTLS.pinnedSHA256.
func (t *Target) CertSHA256() string { return t.certSHA256 }

// Stats returns the counters.
func (t *Target) Stats() TargetStats {
	return TargetStats{
		Connections: t.connections.Load(), Active: t.active.Load(),
		Logons: t.logons.Load(), GoodLogons: t.goodLogons.Load(),
		EchoedPDUs: t.echoed.pdus.Load(), EchoedBytes: t.echoed.bytes.Load(),
	}
}

// Logons returns what every Client Info PDU carried, oldest first.
func (t *Target) Logons() []Logon {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Logon(nil), t.history...)
}

// Err returns the protocol errors connections met before their echo phase (a peer closing is
// not one), joined; nil when none did.
func (t *Target) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return errors.Join(t.errs...)
}

// Close stops listening, closes every connection and waits for them.
func (t *Target) Close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		_ = t.ln.Close()
		for c := range t.conns {
			_ = c.Close()
		}
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *Target) accept() {
	defer t.wg.Done()
	for {
		conn, err := t.ln.Accept()
		if err != nil {
			t.mu.Lock()
			closed := t.closed
			t.mu.Unlock()
			if closed {
				return
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like
			continue
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			_ = conn.Close()
			return
		}
		t.conns[conn] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go func() {
			defer t.wg.Done()
			err := t.serve(conn)
			_ = conn.Close()
			t.mu.Lock()
			delete(t.conns, conn)
			closed := t.closed
			if err != nil && !closed {
				t.errs = append(t.errs, err)
			}
			t.mu.Unlock()
		}()
	}
}

// serve runs one connection; it returns an error for a protocol violation before the echo
// phase and nil when the peer went away.
func (t *Target) serve(conn net.Conn) error {
	t.connections.Add(1)
	_ = conn.SetDeadline(time.Now().Add(t.opts.HandshakeTimeout))
	r := newPDUReader(conn)
	frame, err := r.readFrame()
	if err != nil {
		return ignoreEOF(err)
	}
	req, err := x224.ParseConnectionRequest(frame)
	if err != nil {
		return fmt.Errorf("connection request: %w", err)
	}
	if req.Neg == nil || req.Neg.RequestedProtocols&x224.ProtocolSSL == 0 {
		cc, _ := (&x224.ConnectionConfirm{DstRef: req.SrcRef, Failure: &x224.NegotiationFailure{Code: x224.FailureSSLRequiredByServer}}).Marshal()
		_, _ = conn.Write(cc)
		return errors.New("the client did not offer TLS")
	}
	cc, err := (&x224.ConnectionConfirm{DstRef: req.SrcRef, Response: &x224.NegotiationResponse{
		Flags: x224.RespFlagExtendedClientDataSupported, SelectedProtocol: x224.ProtocolSSL}}).Marshal()
	if err != nil {
		return err
	}
	if _, err := conn.Write(cc); err != nil {
		return ignoreEOF(err)
	}
	tc := tls.Server(conn, t.tlsConfig)
	if err := tc.Handshake(); err != nil {
		return ignoreEOF(err)
	}
	r = newPDUReader(tc)
	if frame, err = r.readFrame(); err != nil {
		return ignoreEOF(err)
	}
	resp, ids, err := connectResponse(frame, req.Neg.RequestedProtocols)
	if err != nil {
		return fmt.Errorf("connect initial: %w", err)
	}
	if _, err := tc.Write(resp); err != nil {
		return ignoreEOF(err)
	}
	userID := firstVChannel + uint16(len(ids))
	for {
		frame, err := r.readFrame()
		if err != nil {
			return ignoreEOF(err)
		}
		typ, p, err := mcs.ReadPDU(frame)
		if err != nil {
			return fmt.Errorf("domain PDU %s: %w", typ, err)
		}
		var answer mcs.PDU
		switch p := p.(type) {
		case *mcs.ErectDomainRequest:
		case *mcs.AttachUserRequest:
			answer = &mcs.AttachUserConfirm{Result: mcs.ResultSuccessful, Initiator: userID}
		case *mcs.ChannelJoinRequest:
			answer = &mcs.ChannelJoinConfirm{Result: mcs.ResultSuccessful, Initiator: p.Initiator,
				Requested: p.ChannelID, ChannelID: p.ChannelID, HasChannelID: true}
		case *mcs.DisconnectProviderUltimatum:
			return nil
		case *mcs.SendDataRequest:
			if p.ChannelID != IOChannel {
				continue
			}
			err := t.logon(p.Data)
			clear(frame) // it held the password
			if err != nil {
				return err
			}
			da, err := demandActive()
			if err != nil {
				return err
			}
			out, err := (&mcs.SendDataIndication{SendData: mcs.SendData{Initiator: IOChannel - 1, ChannelID: IOChannel,
				Priority: mcs.PriorityHigh, Segmentation: mcs.SegmentationWhole, Data: da}}).Marshal()
			if err != nil {
				return err
			}
			if _, err := tc.Write(out); err != nil {
				return ignoreEOF(err)
			}
			_ = conn.SetDeadline(time.Time{})
			t.active.Add(1)
			defer t.active.Add(-1)
			_ = echo(r, tc, &t.echoed)
			return nil
		default:
			return fmt.Errorf("unexpected %s in the connect sequence", typ)
		}
		if answer != nil {
			out, err := answer.Marshal()
			if err != nil {
				return err
			}
			if _, err := tc.Write(out); err != nil {
				return ignoreEOF(err)
			}
		}
	}
}

// logon parses a Client Info PDU and records what it carried.
func (t *Target) logon(data []byte) error {
	_, info, err := pdu.ParseClientInfoPDU(data)
	if err != nil {
		return fmt.Errorf("client info: %w", err)
	}
	defer info.ZeroPassword()
	l := Logon{Domain: info.Domain(), User: info.UserName(), PasswordOK: t.opts.Password != "" && info.PasswordEqual(t.opts.Password),
		Autologon: info.Flags&pdu.InfoAutologon != 0}
	t.logons.Add(1)
	if l.PasswordOK {
		t.goodLogons.Add(1)
	}
	t.mu.Lock()
	t.history = append(t.history, l)
	t.mu.Unlock()
	return nil
}

// ignoreEOF turns "the peer went away" into nil.
func ignoreEOF(err error) error {
	var ne net.Error
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &ne) {
		return nil
	}
	return err
}
