package fakerdp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
)

// ClientOptions configure Dial.
type ClientOptions struct {
	// ConnectInitial is the MCS Connect Initial frame to send, for example one captured from a
	// real client; nil sends ConnectInitial(nil).
	ConnectInitial []byte
	// Domain, User and Password go into the Client Info PDU. A proxy that injects credentials
	// replaces them; a target reached directly checks them.
	Domain, User, Password string
	// HandshakeTimeout bounds Dial when ctx has no earlier deadline; 30 s when zero.
	HandshakeTimeout time.Duration
	// TLSConfig is used for the TLS handshake; nil accepts any certificate, as a user who clicks
	// through the warning does.
	TLSConfig *tls.Config
	// Dialer connects; a net.Dialer when nil.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client is a fake RDP client past the connection sequence: it holds a TLS connection on which
// the server's Demand Active PDU arrived, and sends and receives raw PDUs. Send and Recv may be
// called from two goroutines at once; each of them from one goroutine at a time.
type Client struct {
	conn      net.Conn
	r         *pduReader
	userID    uint16
	ioChannel uint16
	channels  []uint16
}

// Dial connects to addr (a proxy, or a target directly) and runs the RDP connection sequence
// up to the server's Demand Active PDU: X.224 Connection Request carrying ticketText as its
// routing token (none when empty) and asking for TLS, TLS, MCS Connect Initial and Response,
// Erect Domain, Attach User, Channel Joins for the user channel, the I/O channel and the
// static channels, and the Client Info PDU.
func Dial(ctx context.Context, addr, ticketText string, opts ClientOptions) (_ *Client, err error) {
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.HandshakeTimeout)
	defer cancel()
	dial := opts.Dialer
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fakerdp: dial %s: %w", addr, err)
	}
	defer func() {
		if err != nil {
			_ = raw.Close()
		}
	}()
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Now()) })
	defer stop()

	req := &x224.ConnectionRequest{Neg: &x224.NegotiationRequest{RequestedProtocols: x224.ProtocolSSL}}
	if ticketText != "" {
		req.RoutingToken = []byte(ticketText)
	} else {
		req.Cookie = "fakerdp"
	}
	frame, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("fakerdp: connection request: %w", err)
	}
	if _, err := raw.Write(frame); err != nil {
		return nil, fmt.Errorf("fakerdp: send the connection request: %w", err)
	}
	if frame, err = tpkt.ReadFrame(raw, 1024); err != nil {
		return nil, fmt.Errorf("fakerdp: read the connection confirm: %w", err)
	}
	cc, err := x224.ParseConnectionConfirm(frame)
	switch {
	case err != nil:
		return nil, fmt.Errorf("fakerdp: connection confirm: %w", err)
	case cc.Failure != nil:
		return nil, fmt.Errorf("fakerdp: the server refused the negotiation (failure code %d)", cc.Failure.Code)
	case cc.Response == nil || cc.Response.SelectedProtocol != x224.ProtocolSSL:
		return nil, errors.New("fakerdp: the server did not select TLS")
	}
	cfg := opts.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // a test client
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("fakerdp: TLS: %w", err)
	}
	c := &Client{conn: tc, r: newPDUReader(tc)}
	if err := c.connectSequence(opts); err != nil {
		return nil, err
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

func (c *Client) connectSequence(opts ClientOptions) error {
	ci := opts.ConnectInitial
	if ci == nil {
		var err error
		if ci, err = ConnectInitial(nil); err != nil {
			return err
		}
	}
	if err := c.Send(ci); err != nil {
		return fmt.Errorf("fakerdp: send the connect initial: %w", err)
	}
	frame, err := c.r.readFrame()
	if err != nil {
		return fmt.Errorf("fakerdp: read the connect response: %w", err)
	}
	_, p, err := mcs.ReadPDU(frame)
	if err != nil {
		return fmt.Errorf("fakerdp: connect response: %w", err)
	}
	cr, ok := p.(*mcs.ConnectResponse)
	if !ok {
		return fmt.Errorf("fakerdp: %s instead of a connect response", p.Type())
	}
	if cr.Result != mcs.ResultSuccessful {
		return fmt.Errorf("fakerdp: connect response %s", cr.Result)
	}
	_, sd, err := cr.ServerData()
	if err != nil {
		return fmt.Errorf("fakerdp: connect response: %w", err)
	}
	network, err := sd.Network()
	if err != nil {
		return fmt.Errorf("fakerdp: connect response: %w", err)
	}
	c.ioChannel, c.channels = network.MCSChannelID, network.ChannelIDs

	if err := c.sendPDU(&mcs.ErectDomainRequest{}); err != nil {
		return err
	}
	if err := c.sendPDU(&mcs.AttachUserRequest{}); err != nil {
		return err
	}
	p, err = c.readDomainPDU()
	if err != nil {
		return err
	}
	auc, ok := p.(*mcs.AttachUserConfirm)
	if !ok || auc.Result != mcs.ResultSuccessful {
		return fmt.Errorf("fakerdp: %s instead of a successful attach user confirm", p.Type())
	}
	c.userID = auc.Initiator
	for _, ch := range append([]uint16{c.userID, c.ioChannel}, c.channels...) {
		if err := c.sendPDU(&mcs.ChannelJoinRequest{Initiator: c.userID, ChannelID: ch}); err != nil {
			return err
		}
		p, err := c.readDomainPDU()
		if err != nil {
			return err
		}
		if jc, ok := p.(*mcs.ChannelJoinConfirm); !ok || jc.Result != mcs.ResultSuccessful || jc.Requested != ch {
			return fmt.Errorf("fakerdp: %s instead of a successful join of channel %d", p.Type(), ch)
		}
	}

	info, err := ClientInfo(opts.Domain, opts.User, opts.Password)
	if err != nil {
		return fmt.Errorf("fakerdp: client info: %w", err)
	}
	frame, err = DataFrame(c.userID, c.ioChannel, info)
	clear(info)
	if err != nil {
		return fmt.Errorf("fakerdp: client info: %w", err)
	}
	err = c.Send(frame)
	clear(frame)
	if err != nil {
		return fmt.Errorf("fakerdp: send the client info: %w", err)
	}

	// Licensing and anything else may come first; the Demand Active ends the sequence.
	for {
		frame, err := c.r.readFrame()
		if err != nil {
			return fmt.Errorf("fakerdp: waiting for the demand active: %w", err)
		}
		_, p, err := mcs.ReadPDU(frame)
		if err != nil {
			return fmt.Errorf("fakerdp: waiting for the demand active: %w", err)
		}
		switch p := p.(type) {
		case *mcs.SendDataIndication:
			if p.ChannelID != c.ioChannel {
				continue
			}
			if h, _, _, err := pdu.ParseShareControlHeader(p.Data); err == nil && h.Type() == pdu.PDUTypeDemandActive {
				return nil
			}
		case *mcs.DisconnectProviderUltimatum:
			return fmt.Errorf("fakerdp: the server disconnected (%s) before the demand active", p.Reason)
		}
	}
}

func (c *Client) sendPDU(p mcs.PDU) error {
	b, err := p.Marshal()
	if err != nil {
		return fmt.Errorf("fakerdp: %s: %w", p.Type(), err)
	}
	if err := c.Send(b); err != nil {
		return fmt.Errorf("fakerdp: send %s: %w", p.Type(), err)
	}
	return nil
}

func (c *Client) readDomainPDU() (mcs.PDU, error) {
	frame, err := c.r.readFrame()
	if err != nil {
		return nil, fmt.Errorf("fakerdp: read a domain PDU: %w", err)
	}
	typ, p, err := mcs.ReadPDU(frame)
	if err != nil {
		return nil, fmt.Errorf("fakerdp: domain PDU %s: %w", typ, err)
	}
	return p, nil
}

// Attach makes a Client of an established byte stream without any handshake, for baselines
// that send the same PDUs over plain TCP. UserID and IOChannel are the fake target's.
func Attach(conn net.Conn) *Client {
	return &Client{conn: conn, r: newPDUReader(conn), userID: firstVChannel + uint16(len(defaultChannels())), ioChannel: IOChannel}
}

// UserID is the MCS user id the server assigned.
func (c *Client) UserID() uint16 { return c.userID }

// IOChannel is the MCS I/O channel id.
func (c *Client) IOChannel() uint16 { return c.ioChannel }

// Conn is the connection (the TLS one after Dial).
func (c *Client) Conn() net.Conn { return c.conn }

// DataFrame builds a Send Data Request frame on the I/O channel carrying payload.
func (c *Client) DataFrame(payload []byte) ([]byte, error) {
	return DataFrame(c.userID, c.ioChannel, payload)
}

// Send writes a whole PDU (a TPKT frame or a fast-path PDU).
func (c *Client) Send(pdu []byte) error {
	_, err := c.conn.Write(pdu)
	return err
}

// Recv reads the next whole PDU. The slice is valid until the next call of Recv.
func (c *Client) Recv() ([]byte, error) {
	_, b, err := c.r.next()
	return b, err
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }
