// Package gcc parses and builds the T.124 Generic Conference Control structures that RDP
// carries in the userData of the MCS Connect Initial and Connect Response PDUs (MS-RDPBCGR
// 2.2.1.3.1 and 2.2.1.4.1), and the client and server user data blocks inside them
// (MS-RDPBCGR 2.2.1.3.2 to 2.2.1.4.5).
//
// The two conference PDUs are aligned PER (package rdp/per) in the one shape every RDP client
// and server uses: a ConnectData keyed by the T.124 object identifier, a ConnectGCCPDU with a
// Conference Create Request (conference name "1", only userData present) or Response, and one
// H.221 non-standard user data set ("Duca" from clients, "McDn" from servers) holding the
// blocks.
//
// The user data area is a list of blocks, each a TS_UD_HEADER (type, length) and a body. A
// ClientData or ServerData keeps every block in order, byte for byte, including blocks this
// package does not type (CS_MONITOR, CS_MCS_MSGCHANNEL, CS_MONITOR_EX, CS_MULTITRANSPORT,
// SC_MCS_MSGCHANNEL, SC_MULTITRANSPORT, …). The blocks a proxy rewrites have typed views
// (ClientCore, ClientSecurity, ClientNetwork, ClientCluster, ServerCore, ServerSecurity,
// ServerNetwork) that are decoded from and encoded back into their block.
//
// Parsing is lossless: marshalling an unmodified parse, at every level, reproduces the input
// bytes, including the length forms and values peers choose (xrdp writes the response's user
// data length in the two-octet form; Windows, xrdp and FreeRDP all write a constant 42 as the
// response's ConnectPDU length). Changed values are encoded canonically and every length that
// was right is recomputed.
//
// Errors wrap ErrMalformed (parsing), ErrInvalid (marshalling) or ErrNoBlock; no function
// panics on any input.
package gcc

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sessionconnector/sessionconnector/rdp/per"
)

var (
	// ErrMalformed wraps every parsing error.
	ErrMalformed = errors.New("gcc: malformed data")
	// ErrInvalid wraps every error about a value that cannot be marshalled.
	ErrInvalid = errors.New("gcc: invalid value")
	// ErrNoBlock reports that a user data block of the requested type is absent.
	ErrNoBlock = errors.New("gcc: no such user data block")
)

const (
	// ClientH221Key is the H.221 non-standard key of client user data.
	ClientH221Key = "Duca"
	// ServerH221Key is the H.221 non-standard key of server user data.
	ServerH221Key = "McDn"
	// DefaultConferenceName is the conference name every RDP client sends.
	DefaultConferenceName = "1"
	// DefaultResponseConnectPDULength is the constant that Windows servers (and xrdp and the
	// FreeRDP server after them) write as the Conference Create Response's ConnectPDU length,
	// whatever the real length; clients ignore it.
	DefaultResponseConnectPDULength = 42
	// MinNodeID is the smallest GCC node ID / MCS user ID (T.125 UserId).
	MinNodeID = 1001
	// MaxUserDataLen is the largest user data area a PER length determinant can describe.
	MaxUserDataLen = per.MaxLength

	keyChoiceObject      = 0x00 // Key CHOICE: object
	choiceCreateRequest  = 0x00 // ConnectGCCPDU CHOICE index 0, no extension
	choiceCreateResponse = 0x14 // ConnectGCCPDU CHOICE index 1 + userData present
	selectionUserData    = 0x08 // ConferenceCreateRequest: only userData present
	userDataValueH221    = 0xC0 // UserData value present, Key CHOICE h221NonStandard
	h221KeyMin           = 4
	h221KeyMax           = 255
	conferenceNameMax    = 255
	resultCount          = 16 // GCC result ENUMERATED values, as FreeRDP bounds them
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// encoding remembers how a parsed conference PDU was encoded, so that Marshal reproduces it.
type encoding struct {
	parsed bool
	// prefix is the raw Key CHOICE and object identifier.
	prefix []byte
	// connectPDULen is the ConnectPDU length as sent, exact tells whether it was the real
	// length, size how many octets it took.
	connectPDULen  int
	connectPDUSize int
	exact          bool
	// head is the raw ConnectGCCPDU up to the user data length; canon is the canonical
	// encoding of the values parsed from it. While the values are unchanged, head is written.
	head  []byte
	canon []byte
	// userDataLenSize is the number of octets of the user data length determinant.
	userDataLenSize int
	// flags is the request's octet of locked, listed and conductible conference and
	// termination method, zero from every client.
	flags byte
}

// ConferenceCreateRequest is the GCC Conference Create Request inside a ConnectData, the
// userData of an MCS Connect Initial (MS-RDPBCGR 2.2.1.3.1).
type ConferenceCreateRequest struct {
	// ConferenceName is the numeric conference name, "1" from every client.
	ConferenceName string
	// H221Key is the H.221 non-standard key of the user data, ClientH221Key.
	H221Key string
	// UserData is the area of client user data blocks (see ParseClientData).
	UserData []byte

	enc encoding
}

// ConferenceCreateResponse is the GCC Conference Create Response inside a ConnectData, the
// userData of an MCS Connect Response (MS-RDPBCGR 2.2.1.4.1).
type ConferenceCreateResponse struct {
	// NodeID is the GCC node ID (at least MinNodeID); Windows sends 31219 (0x79F3).
	NodeID uint16
	// Tag is the conference tag, 1 from Windows.
	Tag uint32
	// Result is the GCC result; 0 is success.
	Result uint8
	// H221Key is the H.221 non-standard key of the user data, ServerH221Key.
	H221Key string
	// UserData is the area of server user data blocks (see ParseServerData).
	UserData []byte

	enc encoding
}

// readConnectData reads the ConnectData prefix (Key CHOICE object, T.124 OID) and the
// ConnectPDU length.
func readConnectData(r *per.Reader, b []byte, enc *encoding) error {
	c, err := r.ReadChoice()
	if err != nil {
		return fmt.Errorf("%w: connect data key: %w", ErrMalformed, err)
	}
	if c != keyChoiceObject {
		return malformed("connect data key choice 0x%02x, want 0x00 (object)", c)
	}
	oid, err := r.ReadObjectIdentifier()
	if err != nil {
		return fmt.Errorf("%w: connect data key: %w", ErrMalformed, err)
	}
	if !oid.Equal(per.T124Identifier()) {
		return malformed("connect data key %s, want %s (T.124)", oid, per.T124Identifier())
	}
	enc.prefix = bytes.Clone(b[:r.Offset()])
	n, size, err := r.ReadLength()
	if err != nil {
		return fmt.Errorf("%w: connect PDU length: %w", ErrMalformed, err)
	}
	enc.connectPDULen, enc.connectPDUSize = n, size
	enc.exact = n == r.Len()
	return nil
}

// readUserData reads the user data set common to request and response: number of sets (1),
// UserData CHOICE (0xC0), the H.221 key; the head ends there. Then the user data, which must
// end the buffer.
func readUserData(r *per.Reader, b []byte, headStart int, enc *encoding) (key string, ud []byte, err error) {
	n, err := r.ReadNumberOfSets()
	if err != nil {
		return "", nil, fmt.Errorf("%w: user data set count: %w", ErrMalformed, err)
	}
	if n != 1 {
		return "", nil, malformed("%d user data sets, want 1", n)
	}
	c, err := r.ReadChoice()
	if err != nil {
		return "", nil, fmt.Errorf("%w: user data choice: %w", ErrMalformed, err)
	}
	if c != userDataValueH221 {
		return "", nil, malformed("user data choice 0x%02x, want 0xC0 (h221NonStandard with value)", c)
	}
	k, err := r.ReadOctetStream(h221KeyMin)
	if err != nil {
		return "", nil, fmt.Errorf("%w: h221 key: %w", ErrMalformed, err)
	}
	if len(k) > h221KeyMax {
		return "", nil, malformed("h221 key of %d bytes, at most %d", len(k), h221KeyMax)
	}
	enc.head = bytes.Clone(b[headStart:r.Offset()])
	udLen, size, err := r.ReadLength()
	if err != nil {
		return "", nil, fmt.Errorf("%w: user data length: %w", ErrMalformed, err)
	}
	enc.userDataLenSize = size
	ud, err = r.ReadBytes(udLen)
	if err != nil {
		return "", nil, fmt.Errorf("%w: user data: %w", ErrMalformed, err)
	}
	if !r.Empty() {
		return "", nil, malformed("%d bytes after the user data", r.Len())
	}
	enc.parsed = true
	return string(k), ud, nil
}

// ParseConferenceCreateRequest parses the userData of an MCS Connect Initial. UserData aliases b.
func ParseConferenceCreateRequest(b []byte) (*ConferenceCreateRequest, error) {
	req := &ConferenceCreateRequest{}
	r := per.NewReader(b)
	if err := readConnectData(r, b, &req.enc); err != nil {
		return nil, err
	}
	headStart := r.Offset()
	c, err := r.ReadChoice()
	if err != nil {
		return nil, fmt.Errorf("%w: connect GCC PDU: %w", ErrMalformed, err)
	}
	if c != choiceCreateRequest {
		return nil, malformed("connect GCC PDU choice 0x%02x, want 0x00 (conference create request)", c)
	}
	sel, err := r.ReadSelection()
	if err != nil {
		return nil, fmt.Errorf("%w: conference create request: %w", ErrMalformed, err)
	}
	if sel != selectionUserData {
		return nil, malformed("conference create request options 0x%02x, want 0x08 (user data only)", sel)
	}
	name, err := r.ReadNumericString(1)
	if err != nil {
		return nil, fmt.Errorf("%w: conference name: %w", ErrMalformed, err)
	}
	if len(name) > conferenceNameMax {
		return nil, malformed("conference name of %d digits, at most %d", len(name), conferenceNameMax)
	}
	req.ConferenceName = name
	// locked, listed and conductible conference, termination method: one octet, kept as sent.
	flags, err := r.ReadPadding(1)
	if err != nil {
		return nil, fmt.Errorf("%w: conference flags: %w", ErrMalformed, err)
	}
	key, ud, err := readUserData(r, b, headStart, &req.enc)
	if err != nil {
		return nil, err
	}
	req.H221Key, req.UserData = key, ud
	req.enc.flags = flags[0]
	req.enc.canon, err = req.appendHead(nil, flags[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return req, nil
}

func (r *ConferenceCreateRequest) appendHead(dst []byte, flags byte) ([]byte, error) {
	name := r.ConferenceName
	if name == "" {
		name = DefaultConferenceName
	}
	if len(name) > conferenceNameMax {
		return dst, invalid("conference name of %d digits, at most %d", len(name), conferenceNameMax)
	}
	dst = per.AppendChoice(dst, choiceCreateRequest)
	dst = per.AppendSelection(dst, selectionUserData)
	dst, err := per.AppendNumericString(dst, name, 1)
	if err != nil {
		return dst, fmt.Errorf("%w: conference name: %w", ErrInvalid, err)
	}
	dst = append(dst, flags)
	return appendUserDataHead(dst, r.H221Key, ClientH221Key)
}

func appendUserDataHead(dst []byte, key, def string) ([]byte, error) {
	if key == "" {
		key = def
	}
	if len(key) < h221KeyMin || len(key) > h221KeyMax {
		return dst, invalid("h221 key of %d bytes, want %d to %d", len(key), h221KeyMin, h221KeyMax)
	}
	dst = per.AppendNumberOfSets(dst, 1)
	dst = per.AppendChoice(dst, userDataValueH221)
	dst, err := per.AppendOctetStream(dst, []byte(key), h221KeyMin)
	if err != nil {
		return dst, fmt.Errorf("%w: h221 key: %w", ErrInvalid, err)
	}
	return dst, nil
}

// finishConnectData writes the ConnectData around a ConnectGCCPDU: the prefix, the ConnectPDU
// length (recomputed when it was exact or is new, kept when it was a constant), head and user
// data.
func finishConnectData(enc *encoding, head, ud []byte, defaultLen int) ([]byte, error) {
	if len(ud) > MaxUserDataLen {
		return nil, invalid("user data of %d bytes, at most %d", len(ud), MaxUserDataLen)
	}
	body := make([]byte, 0, len(head)+2+len(ud))
	body = append(body, head...)
	body, err := per.AppendLengthSize(body, len(ud), enc.userDataLenSize)
	if err != nil {
		return nil, fmt.Errorf("%w: user data length: %w", ErrInvalid, err)
	}
	body = append(body, ud...)

	out := make([]byte, 0, 16+len(body))
	if enc.parsed {
		out = append(out, enc.prefix...)
	} else {
		out = append(out, keyChoiceObject)
		if out, err = per.AppendObjectIdentifier(out, per.T124Identifier()); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	n := len(body)
	switch {
	case enc.parsed && !enc.exact:
		n = enc.connectPDULen
	case !enc.parsed && defaultLen > 0:
		n = defaultLen
	}
	if n > per.MaxLength {
		// The real length does not fit a length determinant; this only happens with a user
		// data area close to MaxUserDataLen.
		return nil, invalid("connect PDU of %d bytes, at most %d", n, per.MaxLength)
	}
	out, err = per.AppendLengthSize(out, n, enc.connectPDUSize)
	if err != nil {
		return nil, fmt.Errorf("%w: connect PDU length: %w", ErrInvalid, err)
	}
	return append(out, body...), nil
}

// Marshal encodes the request. An unmodified parse reproduces its input.
func (r *ConferenceCreateRequest) Marshal() ([]byte, error) {
	if r == nil {
		return nil, invalid("nil ConferenceCreateRequest")
	}
	head, err := r.appendHead(nil, r.enc.flags)
	if err != nil {
		return nil, err
	}
	if r.enc.parsed && bytes.Equal(head, r.enc.canon) {
		head = r.enc.head
	}
	return finishConnectData(&r.enc, head, r.UserData, 0)
}

// ParseConferenceCreateResponse parses the userData of an MCS Connect Response. UserData
// aliases b.
func ParseConferenceCreateResponse(b []byte) (*ConferenceCreateResponse, error) {
	resp := &ConferenceCreateResponse{}
	r := per.NewReader(b)
	if err := readConnectData(r, b, &resp.enc); err != nil {
		return nil, err
	}
	headStart := r.Offset()
	c, err := r.ReadChoice()
	if err != nil {
		return nil, fmt.Errorf("%w: connect GCC PDU: %w", ErrMalformed, err)
	}
	if c != choiceCreateResponse {
		return nil, malformed("connect GCC PDU choice 0x%02x, want 0x14 (conference create response with user data)", c)
	}
	if resp.NodeID, err = r.ReadInteger16(MinNodeID); err != nil {
		return nil, fmt.Errorf("%w: node ID: %w", ErrMalformed, err)
	}
	if resp.Tag, _, err = r.ReadInteger(); err != nil {
		return nil, fmt.Errorf("%w: tag: %w", ErrMalformed, err)
	}
	if resp.Result, err = r.ReadEnumerated(resultCount); err != nil {
		return nil, fmt.Errorf("%w: result: %w", ErrMalformed, err)
	}
	key, ud, err := readUserData(r, b, headStart, &resp.enc)
	if err != nil {
		return nil, err
	}
	resp.H221Key, resp.UserData = key, ud
	resp.enc.canon, err = resp.appendHead(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return resp, nil
}

func (r *ConferenceCreateResponse) appendHead(dst []byte) ([]byte, error) {
	dst = per.AppendChoice(dst, choiceCreateResponse)
	dst, err := per.AppendInteger16(dst, r.NodeID, MinNodeID)
	if err != nil {
		return dst, fmt.Errorf("%w: node ID: %w", ErrInvalid, err)
	}
	dst = per.AppendInteger(dst, r.Tag)
	if dst, err = per.AppendEnumerated(dst, r.Result, resultCount); err != nil {
		return dst, fmt.Errorf("%w: result: %w", ErrInvalid, err)
	}
	return appendUserDataHead(dst, r.H221Key, ServerH221Key)
}

// Marshal encodes the response. An unmodified parse reproduces its input; a new response gets
// DefaultResponseConnectPDULength as its ConnectPDU length, as Windows sends it.
func (r *ConferenceCreateResponse) Marshal() ([]byte, error) {
	if r == nil {
		return nil, invalid("nil ConferenceCreateResponse")
	}
	head, err := r.appendHead(nil)
	if err != nil {
		return nil, err
	}
	if r.enc.parsed && bytes.Equal(head, r.enc.canon) {
		head = r.enc.head
	}
	return finishConnectData(&r.enc, head, r.UserData, DefaultResponseConnectPDULength)
}
