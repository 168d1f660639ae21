package mcs

import (
	"bytes"
	"fmt"

	"github.com/sessionconnector/sessionconnector/rdp/ber"
	"github.com/sessionconnector/sessionconnector/rdp/gcc"
)

// DomainParameters is the T.125 DomainParameters SEQUENCE of the Connect PDUs.
type DomainParameters struct {
	MaxChannelIDs   uint32
	MaxUserIDs      uint32
	MaxTokenIDs     uint32
	NumPriorities   uint32
	MinThroughput   uint32
	MaxHeight       uint32
	MaxMCSPDUSize   uint32
	ProtocolVersion uint32
}

func readDomainParameters(r *ber.Reader, name string) (DomainParameters, error) {
	var p DomainParameters
	s, err := r.ReadSequence()
	if err != nil {
		return p, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
	}
	for _, f := range []*uint32{&p.MaxChannelIDs, &p.MaxUserIDs, &p.MaxTokenIDs, &p.NumPriorities,
		&p.MinThroughput, &p.MaxHeight, &p.MaxMCSPDUSize, &p.ProtocolVersion} {
		if *f, err = s.ReadUnsigned(); err != nil {
			return p, fmt.Errorf("%w: %s: %w", ErrMalformed, name, err)
		}
	}
	if !s.Empty() {
		return p, malformed("%s: %d bytes after protocolVersion", name, s.Len())
	}
	return p, nil
}

func appendDomainParameters(dst []byte, p DomainParameters) ([]byte, error) {
	var c []byte
	for _, v := range []uint32{p.MaxChannelIDs, p.MaxUserIDs, p.MaxTokenIDs, p.NumPriorities,
		p.MinThroughput, p.MaxHeight, p.MaxMCSPDUSize, p.ProtocolVersion} {
		c = ber.AppendUnsigned(c, v)
	}
	return ber.AppendElement(dst, ber.Universal(ber.TagSequence), c)
}

// berEncoding remembers how a parsed Connect PDU was encoded, so that Marshal reproduces it.
type berEncoding struct {
	parsed bool
	// head is the raw content before userData; canon the canonical encoding of the values
	// parsed from it. While the values are unchanged, head is written.
	head, canon []byte
	// outerLenSize and userDataLenSize are the length forms of the application element and of
	// the userData OCTET STRING.
	outerLenSize, userDataLenSize int
}

// readConnect reads the application element and hands its content to readHead, then reads
// the userData OCTET STRING that ends it.
func readConnect(b []byte, t PDUType, enc *berEncoding, readHead func(*ber.Reader) error) ([]byte, error) {
	r := ber.NewReader(b)
	h, body, err := r.ReadApplication(uint32(t))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, t, err)
	}
	if !r.Empty() {
		return nil, malformed("%s: %d bytes after the PDU", t, r.Len())
	}
	if err := readHead(body); err != nil {
		return nil, err
	}
	enc.head = bytes.Clone(b[h.Size : h.Size+body.Offset()])
	udh, ud, err := body.ReadOctetStringHeader()
	if err != nil {
		return nil, fmt.Errorf("%w: %s userData: %w", ErrMalformed, t, err)
	}
	if !body.Empty() {
		return nil, malformed("%s: %d bytes after userData", t, body.Len())
	}
	enc.outerLenSize, enc.userDataLenSize = h.LengthSize, udh.LengthSize
	enc.parsed = true
	return ud, nil
}

// appendConnect writes the application element: head (raw while unchanged) and userData.
func appendConnect(dst []byte, t PDUType, enc *berEncoding, head, ud []byte) ([]byte, error) {
	if enc.parsed && bytes.Equal(head, enc.canon) {
		head = enc.head
	}
	content, err := ber.AppendElementSize(head[:len(head):len(head)], ber.Universal(ber.TagOctetString), ud, enc.userDataLenSize)
	if err != nil {
		return dst, fmt.Errorf("%w: %s userData: %w", ErrInvalid, t, err)
	}
	if len(content) > MaxMCSLen {
		return dst, invalid("%s of %d bytes, at most %d fit in a frame", t, len(content), MaxMCSLen)
	}
	dst, err = ber.AppendElementSize(dst, ber.Application(uint32(t)), content, enc.outerLenSize)
	if err != nil {
		return dst, fmt.Errorf("%w: %s: %w", ErrInvalid, t, err)
	}
	return dst, nil
}

// ConnectInitial is the MCS Connect Initial PDU (MS-RDPBCGR 2.2.1.3).
type ConnectInitial struct {
	CallingDomainSelector []byte // 0x01 from RDP clients
	CalledDomainSelector  []byte // 0x01 from RDP clients
	UpwardFlag            bool
	TargetParameters      DomainParameters
	MinimumParameters     DomainParameters
	MaximumParameters     DomainParameters
	// UserData is the GCC Conference Create Request (gcc.ParseConferenceCreateRequest).
	UserData []byte

	enc berEncoding
}

// ParseConnectInitial parses an MCS Connect Initial PDU (the user data of an X.224 Data
// TPDU). Slices in the result alias b.
func ParseConnectInitial(b []byte) (*ConnectInitial, error) {
	c := &ConnectInitial{}
	ud, err := readConnect(b, TypeConnectInitial, &c.enc, func(r *ber.Reader) error {
		var err error
		if c.CallingDomainSelector, err = r.ReadOctetString(); err != nil {
			return fmt.Errorf("%w: callingDomainSelector: %w", ErrMalformed, err)
		}
		if c.CalledDomainSelector, err = r.ReadOctetString(); err != nil {
			return fmt.Errorf("%w: calledDomainSelector: %w", ErrMalformed, err)
		}
		if c.UpwardFlag, err = r.ReadBoolean(); err != nil {
			return fmt.Errorf("%w: upwardFlag: %w", ErrMalformed, err)
		}
		if c.TargetParameters, err = readDomainParameters(r, "targetParameters"); err != nil {
			return err
		}
		if c.MinimumParameters, err = readDomainParameters(r, "minimumParameters"); err != nil {
			return err
		}
		c.MaximumParameters, err = readDomainParameters(r, "maximumParameters")
		return err
	})
	if err != nil {
		return nil, err
	}
	c.UserData = ud
	if c.enc.canon, err = c.appendHead(nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return c, nil
}

func (c *ConnectInitial) appendHead(dst []byte) ([]byte, error) {
	dst, err := ber.AppendOctetString(dst, c.CallingDomainSelector)
	if err != nil {
		return dst, fmt.Errorf("%w: callingDomainSelector: %w", ErrInvalid, err)
	}
	if dst, err = ber.AppendOctetString(dst, c.CalledDomainSelector); err != nil {
		return dst, fmt.Errorf("%w: calledDomainSelector: %w", ErrInvalid, err)
	}
	dst = ber.AppendBoolean(dst, c.UpwardFlag)
	for _, p := range []DomainParameters{c.TargetParameters, c.MinimumParameters, c.MaximumParameters} {
		if dst, err = appendDomainParameters(dst, p); err != nil {
			return dst, fmt.Errorf("%w: domain parameters: %w", ErrInvalid, err)
		}
	}
	return dst, nil
}

// Type returns TypeConnectInitial.
func (c *ConnectInitial) Type() PDUType { return TypeConnectInitial }

// AppendMCS appends the BER encoding. An unmodified parse reproduces its input.
func (c *ConnectInitial) AppendMCS(dst []byte) ([]byte, error) {
	if c == nil {
		return dst, invalid("nil ConnectInitial")
	}
	head, err := c.appendHead(nil)
	if err != nil {
		return dst, err
	}
	return appendConnect(dst, TypeConnectInitial, &c.enc, head, c.UserData)
}

// Marshal returns the PDU as a whole TPKT frame.
func (c *ConnectInitial) Marshal() ([]byte, error) { return frame(c) }

// ClientData parses the GCC Conference Create Request in UserData and its client data blocks.
func (c *ConnectInitial) ClientData() (*gcc.ConferenceCreateRequest, *gcc.ClientData, error) {
	if c == nil {
		return nil, nil, invalid("nil ConnectInitial")
	}
	req, err := gcc.ParseConferenceCreateRequest(c.UserData)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: connect initial user data: %w", ErrMalformed, err)
	}
	cd, err := gcc.ParseClientData(req.UserData)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: connect initial client data: %w", ErrMalformed, err)
	}
	return req, cd, nil
}

// ConnectResponse is the MCS Connect Response PDU (MS-RDPBCGR 2.2.1.4).
type ConnectResponse struct {
	Result           Result
	CalledConnectID  uint32
	DomainParameters DomainParameters
	// UserData is the GCC Conference Create Response (gcc.ParseConferenceCreateResponse).
	UserData []byte

	enc berEncoding
}

// ParseConnectResponse parses an MCS Connect Response PDU (the user data of an X.224 Data
// TPDU). Slices in the result alias b.
func ParseConnectResponse(b []byte) (*ConnectResponse, error) {
	c := &ConnectResponse{}
	ud, err := readConnect(b, TypeConnectResponse, &c.enc, func(r *ber.Reader) error {
		res, err := r.ReadEnumerated()
		if err != nil {
			return fmt.Errorf("%w: result: %w", ErrMalformed, err)
		}
		if res >= resultCount {
			return malformed("result %d, want below %d", res, resultCount)
		}
		c.Result = Result(res)
		if c.CalledConnectID, err = r.ReadUnsigned(); err != nil {
			return fmt.Errorf("%w: calledConnectId: %w", ErrMalformed, err)
		}
		c.DomainParameters, err = readDomainParameters(r, "domainParameters")
		return err
	})
	if err != nil {
		return nil, err
	}
	c.UserData = ud
	if c.enc.canon, err = c.appendHead(nil); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return c, nil
}

func (c *ConnectResponse) appendHead(dst []byte) ([]byte, error) {
	if c.Result >= resultCount {
		return dst, invalid("result %d, want below %d", c.Result, resultCount)
	}
	dst = ber.AppendEnumerated(dst, uint32(c.Result))
	dst = ber.AppendUnsigned(dst, c.CalledConnectID)
	dst, err := appendDomainParameters(dst, c.DomainParameters)
	if err != nil {
		return dst, fmt.Errorf("%w: domain parameters: %w", ErrInvalid, err)
	}
	return dst, nil
}

// Type returns TypeConnectResponse.
func (c *ConnectResponse) Type() PDUType { return TypeConnectResponse }

// AppendMCS appends the BER encoding. An unmodified parse reproduces its input.
func (c *ConnectResponse) AppendMCS(dst []byte) ([]byte, error) {
	if c == nil {
		return dst, invalid("nil ConnectResponse")
	}
	head, err := c.appendHead(nil)
	if err != nil {
		return dst, err
	}
	return appendConnect(dst, TypeConnectResponse, &c.enc, head, c.UserData)
}

// Marshal returns the PDU as a whole TPKT frame.
func (c *ConnectResponse) Marshal() ([]byte, error) { return frame(c) }

// ServerData parses the GCC Conference Create Response in UserData and its server data blocks.
func (c *ConnectResponse) ServerData() (*gcc.ConferenceCreateResponse, *gcc.ServerData, error) {
	if c == nil {
		return nil, nil, invalid("nil ConnectResponse")
	}
	resp, err := gcc.ParseConferenceCreateResponse(c.UserData)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: connect response user data: %w", ErrMalformed, err)
	}
	sd, err := gcc.ParseServerData(resp.UserData)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: connect response server data: %w", ErrMalformed, err)
	}
	return resp, sd, nil
}

// RewriteConnectInitial parses a TPKT frame carrying an MCS Connect Initial, hands its client
// data blocks to edit, and returns the frame re-encoded with every length (user data, PER,
// BER, TPKT) recomputed. Bytes edit does not change stay as they were; when edit changes
// nothing, the result equals frame. An error from edit is returned wrapped.
func RewriteConnectInitial(frame []byte, edit func(*gcc.ClientData) error) ([]byte, error) {
	if edit == nil {
		return nil, invalid("nil edit function")
	}
	p, err := DataPayload(frame)
	if err != nil {
		return nil, err
	}
	ci, err := ParseConnectInitial(p)
	if err != nil {
		return nil, err
	}
	req, cd, err := ci.ClientData()
	if err != nil {
		return nil, err
	}
	if err := edit(cd); err != nil {
		return nil, fmt.Errorf("mcs: rewrite connect initial: %w", err)
	}
	if req.UserData, err = cd.Marshal(); err != nil {
		return nil, fmt.Errorf("%w: client data: %w", ErrInvalid, err)
	}
	if ci.UserData, err = req.Marshal(); err != nil {
		return nil, fmt.Errorf("%w: conference create request: %w", ErrInvalid, err)
	}
	return ci.Marshal()
}

// RewriteConnectResponse parses a TPKT frame carrying an MCS Connect Response, hands its
// server data blocks to edit, and returns the frame re-encoded with every length recomputed
// (except the response's ConnectPDU length, which servers set to a constant). When edit
// changes nothing, the result equals frame. An error from edit is returned wrapped.
func RewriteConnectResponse(frame []byte, edit func(*gcc.ServerData) error) ([]byte, error) {
	if edit == nil {
		return nil, invalid("nil edit function")
	}
	p, err := DataPayload(frame)
	if err != nil {
		return nil, err
	}
	cr, err := ParseConnectResponse(p)
	if err != nil {
		return nil, err
	}
	resp, sd, err := cr.ServerData()
	if err != nil {
		return nil, err
	}
	if err := edit(sd); err != nil {
		return nil, fmt.Errorf("mcs: rewrite connect response: %w", err)
	}
	if resp.UserData, err = sd.Marshal(); err != nil {
		return nil, fmt.Errorf("%w: server data: %w", ErrInvalid, err)
	}
	if cr.UserData, err = resp.Marshal(); err != nil {
		return nil, fmt.Errorf("%w: conference create response: %w", ErrInvalid, err)
	}
	return cr.Marshal()
}
