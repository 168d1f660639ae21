// Package x224 parses and builds the two PDUs that open an RDP connection, written from
// MS-RDPBCGR: the Client X.224 Connection Request (2.2.1.1) with its optional cookie or routing
// token line, RDP_NEG_REQ (2.2.1.1.1) and RDP_NEG_CORRELATION_INFO (2.2.1.1.2), and the Server
// X.224 Connection Confirm (2.2.1.2) with RDP_NEG_RSP (2.2.1.2.1) or RDP_NEG_FAILURE (2.2.1.2.2).
//
// Both PDUs travel in one TPKT frame (package rdp/tpkt). The X.224 length indicator is a single
// byte and, as RDP clients send it, counts everything after itself (cookie or token line and
// negotiation structures included); values above 254 are reserved by X.224.
//
// Parsing is strict on structure (TPDU codes, class 0, lengths, the negotiation structures'
// types and length fields, no trailing bytes) and on the text line (no ASCII control bytes),
// and lenient on fields whose value carries no meaning: the flags and reserved bytes of
// RDP_NEG_CORRELATION_INFO and the flags of RDP_NEG_FAILURE are ignored on input and written as
// zero. Values the types cannot represent are refused, so Marshal after a successful Parse
// yields a frame that parses to an equal value.
//
// All functions check their bounds and return errors (ErrMalformed when parsing, ErrInvalid when
// marshalling) on any input; none panics.
package x224

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

// Requested / selected security protocols (MS-RDPBCGR 2.2.1.1.1, requestedProtocols).
const (
	ProtocolRDP      uint32 = 0x00000000 // PROTOCOL_RDP: standard RDP security
	ProtocolSSL      uint32 = 0x00000001 // PROTOCOL_SSL: TLS
	ProtocolHybrid   uint32 = 0x00000002 // PROTOCOL_HYBRID: CredSSP (NLA)
	ProtocolRDSTLS   uint32 = 0x00000004 // PROTOCOL_RDSTLS
	ProtocolHybridEx uint32 = 0x00000008 // PROTOCOL_HYBRID_EX: CredSSP with Early User Authorization Result
	ProtocolRDSAAD   uint32 = 0x00000010 // PROTOCOL_RDSAAD: RDS AAD Auth
)

// RDP_NEG_REQ flags (MS-RDPBCGR 2.2.1.1.1).
const (
	FlagRestrictedAdminModeRequired          uint8 = 0x01 // RESTRICTED_ADMIN_MODE_REQUIRED
	FlagRedirectedAuthenticationModeRequired uint8 = 0x02 // REDIRECTED_AUTHENTICATION_MODE_REQUIRED
	FlagCorrelationInfoPresent               uint8 = 0x08 // CORRELATION_INFO_PRESENT
)

// RDP_NEG_RSP flags (MS-RDPBCGR 2.2.1.2.1).
const (
	RespFlagExtendedClientDataSupported           uint8 = 0x01 // EXTENDED_CLIENT_DATA_SUPPORTED
	RespFlagDynVCGFXProtocolSupported             uint8 = 0x02 // DYNVC_GFX_PROTOCOL_SUPPORTED
	RespFlagReserved                              uint8 = 0x04 // NEGRSP_FLAG_RESERVED
	RespFlagRestrictedAdminModeSupported          uint8 = 0x08 // RESTRICTED_ADMIN_MODE_SUPPORTED
	RespFlagRedirectedAuthenticationModeSupported uint8 = 0x10 // REDIRECTED_AUTHENTICATION_MODE_SUPPORTED
)

// RDP_NEG_FAILURE failure codes (MS-RDPBCGR 2.2.1.2.2).
const (
	FailureSSLRequiredByServer             uint32 = 0x00000001 // SSL_REQUIRED_BY_SERVER
	FailureSSLNotAllowedByServer           uint32 = 0x00000002 // SSL_NOT_ALLOWED_BY_SERVER
	FailureSSLCertNotOnServer              uint32 = 0x00000003 // SSL_CERT_NOT_ON_SERVER
	FailureInconsistentFlags               uint32 = 0x00000004 // INCONSISTENT_FLAGS
	FailureHybridRequiredByServer          uint32 = 0x00000005 // HYBRID_REQUIRED_BY_SERVER
	FailureSSLWithUserAuthRequiredByServer uint32 = 0x00000006 // SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER
)

const (
	// CookiePrefix starts the optional cookie line of a Connection Request.
	CookiePrefix = "Cookie: mstshash="

	// MaxLengthIndicator is the largest X.224 length indicator; 255 is reserved by X.224.
	MaxLengthIndicator = 254

	// MaxRoutingTokenLen is the longest routing token (without CRLF) that fits in a Connection
	// Request together with RDP_NEG_REQ and RDP_NEG_CORRELATION_INFO, as mstsc sends them:
	// 254 - 6 (fixed part) - 2 (CRLF) - 8 - 36 = 202 bytes. Without correlation info 238 fit.
	MaxRoutingTokenLen = MaxLengthIndicator - 6 - 2 - negLen - correlationLen

	tpduConnectionRequest = 0xE0 // CR, CDT 0
	tpduConnectionConfirm = 0xD0 // CC, CDT 0

	typeNegReq      = 0x01
	typeNegRsp      = 0x02
	typeNegFailure  = 0x03
	typeCorrelation = 0x06

	fixedLen       = 7 // LI, code, DST-REF, SRC-REF, class option
	negLen         = 8
	correlationLen = 36
)

var (
	// ErrMalformed wraps every parsing error.
	ErrMalformed = errors.New("x224: malformed PDU")
	// ErrInvalid wraps every error about a value that cannot be marshalled.
	ErrInvalid = errors.New("x224: invalid value")
)

// ConnectionRequest is a Client X.224 Connection Request PDU (MS-RDPBCGR 2.2.1.1).
type ConnectionRequest struct {
	// SrcRef is the X.224 source reference (a server echoes it as the Confirm's DstRef).
	SrcRef uint16
	// Cookie is the mstshash value, without CookiePrefix and CRLF; empty when absent.
	Cookie string
	// RoutingToken is the whole line, without CRLF, when it is not a cookie (for example
	// "tsv://MS Terminal Services Plugin.1.Collection" or a .rdp file's loadbalanceinfo, which
	// mstsc may pad with a trailing space: the bytes are kept as sent). Nil when absent.
	RoutingToken []byte
	// Neg is the RDP_NEG_REQ, nil when absent (standard RDP security only).
	Neg *NegotiationRequest
	// Correlation is the RDP_NEG_CORRELATION_INFO; present exactly when Neg.Flags has
	// FlagCorrelationInfoPresent.
	Correlation *CorrelationInfo
}

// NegotiationRequest is RDP_NEG_REQ (MS-RDPBCGR 2.2.1.1.1).
type NegotiationRequest struct {
	Flags              uint8
	RequestedProtocols uint32
}

// CorrelationInfo is RDP_NEG_CORRELATION_INFO (MS-RDPBCGR 2.2.1.1.2).
type CorrelationInfo struct {
	ID [16]byte
}

// ConnectionConfirm is a Server X.224 Connection Confirm PDU (MS-RDPBCGR 2.2.1.2). At most one
// of Response and Failure is set; neither means the server answered without negotiation data.
type ConnectionConfirm struct {
	// DstRef is the X.224 destination reference, normally the request's SrcRef.
	DstRef uint16
	// SrcRef is the server's X.224 source reference.
	SrcRef   uint16
	Response *NegotiationResponse
	Failure  *NegotiationFailure
}

// NegotiationResponse is RDP_NEG_RSP (MS-RDPBCGR 2.2.1.2.1).
type NegotiationResponse struct {
	Flags            uint8
	SelectedProtocol uint32
}

// NegotiationFailure is RDP_NEG_FAILURE (MS-RDPBCGR 2.2.1.2.2).
type NegotiationFailure struct {
	Code uint32
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// header checks the TPKT frame and the fixed X.224 part common to CR and CC, and returns the
// destination and source references and the bytes after the class option.
func header(frame []byte, code byte, name string) (dst, src uint16, rest []byte, err error) {
	p, err := tpkt.Payload(frame)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(p) < fixedLen {
		return 0, 0, nil, malformed("X.224 %s needs %d bytes, have %d", name, fixedLen, len(p))
	}
	li := int(p[0])
	if li > MaxLengthIndicator {
		return 0, 0, nil, malformed("X.224 length indicator %d is reserved", li)
	}
	if li != len(p)-1 {
		return 0, 0, nil, malformed("X.224 length indicator %d, but %d bytes follow it", li, len(p)-1)
	}
	if p[1] != code {
		return 0, 0, nil, malformed("TPDU code 0x%02x, want 0x%02x (%s)", p[1], code, name)
	}
	if p[6] != 0 {
		return 0, 0, nil, malformed("class option 0x%02x, want 0x00 (class 0)", p[6])
	}
	return binary.BigEndian.Uint16(p[2:4]), binary.BigEndian.Uint16(p[4:6]), p[fixedLen:], nil
}

// checkText refuses ASCII control bytes (which include CR, LF and the RDP_NEG_REQ type byte).
func checkText(b []byte) error {
	for i, c := range b {
		if c < 0x20 || c == 0x7F {
			return fmt.Errorf("control byte 0x%02x at offset %d", c, i)
		}
	}
	return nil
}

// ParseConnectionRequest parses a whole TPKT frame carrying a Client X.224 Connection Request.
//
// After the fixed part comes an optional CRLF-terminated line, recognised as such when its first
// byte is not the RDP_NEG_REQ type (0x01): a line starting with CookiePrefix is the cookie, any
// other is a routing token. An empty line or an empty cookie value is accepted and treated as
// absent. Then an optional RDP_NEG_REQ, followed by RDP_NEG_CORRELATION_INFO exactly when its
// flags say so. Unknown request flags and protocol bits are kept for the caller to judge.
func ParseConnectionRequest(tpktFrame []byte) (*ConnectionRequest, error) {
	dst, src, rest, err := header(tpktFrame, tpduConnectionRequest, "Connection Request")
	if err != nil {
		return nil, err
	}
	if dst != 0 {
		return nil, malformed("Connection Request DST-REF 0x%04x, want 0", dst)
	}
	req := &ConnectionRequest{SrcRef: src}

	if len(rest) > 0 && rest[0] != typeNegReq {
		end := bytes.Index(rest, []byte("\r\n"))
		if end < 0 {
			return nil, malformed("%d bytes after the X.224 header are neither a CRLF-terminated line nor RDP_NEG_REQ", len(rest))
		}
		line := rest[:end]
		rest = rest[end+2:]
		if cookie, ok := bytes.CutPrefix(line, []byte(CookiePrefix)); ok {
			if err := checkText(cookie); err != nil {
				return nil, malformed("cookie: %v", err)
			}
			req.Cookie = string(cookie)
		} else {
			if err := checkText(line); err != nil {
				return nil, malformed("routing token: %v", err)
			}
			if len(line) > 0 {
				req.RoutingToken = bytes.Clone(line)
			}
		}
	}

	if len(rest) == 0 {
		return req, nil
	}
	if len(rest) < negLen {
		return nil, malformed("RDP_NEG_REQ needs %d bytes, have %d", negLen, len(rest))
	}
	if rest[0] != typeNegReq {
		return nil, malformed("type 0x%02x where RDP_NEG_REQ (0x01) was expected", rest[0])
	}
	if n := binary.LittleEndian.Uint16(rest[2:4]); n != negLen {
		return nil, malformed("RDP_NEG_REQ length %d, want %d", n, negLen)
	}
	req.Neg = &NegotiationRequest{
		Flags:              rest[1],
		RequestedProtocols: binary.LittleEndian.Uint32(rest[4:8]),
	}
	rest = rest[negLen:]

	if req.Neg.Flags&FlagCorrelationInfoPresent != 0 {
		if len(rest) < correlationLen {
			return nil, malformed("CORRELATION_INFO_PRESENT is set but %d bytes follow RDP_NEG_REQ, want %d", len(rest), correlationLen)
		}
		if rest[0] != typeCorrelation {
			return nil, malformed("type 0x%02x where RDP_NEG_CORRELATION_INFO (0x06) was expected", rest[0])
		}
		if n := binary.LittleEndian.Uint16(rest[2:4]); n != correlationLen {
			return nil, malformed("RDP_NEG_CORRELATION_INFO length %d, want %d", n, correlationLen)
		}
		req.Correlation = &CorrelationInfo{}
		copy(req.Correlation.ID[:], rest[4:20])
		rest = rest[correlationLen:]
	}
	if len(rest) != 0 {
		return nil, malformed("%d unexpected bytes after RDP_NEG_REQ", len(rest))
	}
	return req, nil
}

// Marshal returns the request as a whole TPKT frame.
func (r *ConnectionRequest) Marshal() ([]byte, error) {
	if r == nil {
		return nil, invalid("nil ConnectionRequest")
	}
	p := make([]byte, fixedLen, 64)
	p[1] = tpduConnectionRequest
	binary.BigEndian.PutUint16(p[4:6], r.SrcRef)

	switch {
	case r.Cookie != "" && len(r.RoutingToken) > 0:
		return nil, invalid("both a cookie and a routing token are set")
	case r.Cookie != "":
		if err := checkText([]byte(r.Cookie)); err != nil {
			return nil, invalid("cookie: %v", err)
		}
		p = append(p, CookiePrefix...)
		p = append(p, r.Cookie...)
		p = append(p, '\r', '\n')
	case len(r.RoutingToken) > 0:
		if err := checkText(r.RoutingToken); err != nil {
			return nil, invalid("routing token: %v", err)
		}
		if bytes.HasPrefix(r.RoutingToken, []byte(CookiePrefix)) {
			return nil, invalid("routing token starts with %q and would be read as a cookie", CookiePrefix)
		}
		p = append(p, r.RoutingToken...)
		p = append(p, '\r', '\n')
	}

	if r.Neg == nil {
		if r.Correlation != nil {
			return nil, invalid("correlation info without RDP_NEG_REQ")
		}
	} else {
		hasFlag := r.Neg.Flags&FlagCorrelationInfoPresent != 0
		if hasFlag != (r.Correlation != nil) {
			return nil, invalid("CORRELATION_INFO_PRESENT flag (%t) disagrees with correlation info presence (%t)", hasFlag, r.Correlation != nil)
		}
		p = append(p, typeNegReq, r.Neg.Flags)
		p = binary.LittleEndian.AppendUint16(p, negLen)
		p = binary.LittleEndian.AppendUint32(p, r.Neg.RequestedProtocols)
		if r.Correlation != nil {
			p = append(p, typeCorrelation, 0)
			p = binary.LittleEndian.AppendUint16(p, correlationLen)
			p = append(p, r.Correlation.ID[:]...)
			p = append(p, make([]byte, 16)...) // reserved
		}
	}
	return finish(p)
}

// finish sets the length indicator of an X.224 TPDU and wraps it in a TPKT frame.
func finish(p []byte) ([]byte, error) {
	li := len(p) - 1
	if li > MaxLengthIndicator {
		return nil, invalid("X.224 TPDU needs length indicator %d, at most %d fit", li, MaxLengthIndicator)
	}
	p[0] = byte(li)
	frame, err := tpkt.Append(make([]byte, 0, tpkt.HeaderLen+len(p)), p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return frame, nil
}

// ParseConnectionConfirm parses a whole TPKT frame carrying a Server X.224 Connection Confirm,
// optionally followed by RDP_NEG_RSP or RDP_NEG_FAILURE.
func ParseConnectionConfirm(tpktFrame []byte) (*ConnectionConfirm, error) {
	dst, src, rest, err := header(tpktFrame, tpduConnectionConfirm, "Connection Confirm")
	if err != nil {
		return nil, err
	}
	cc := &ConnectionConfirm{DstRef: dst, SrcRef: src}
	if len(rest) == 0 {
		return cc, nil
	}
	if len(rest) != negLen {
		return nil, malformed("negotiation data of %d bytes after the X.224 header, want %d", len(rest), negLen)
	}
	if n := binary.LittleEndian.Uint16(rest[2:4]); n != negLen {
		return nil, malformed("negotiation structure type 0x%02x has length %d, want %d", rest[0], n, negLen)
	}
	v := binary.LittleEndian.Uint32(rest[4:8])
	switch rest[0] {
	case typeNegRsp:
		cc.Response = &NegotiationResponse{Flags: rest[1], SelectedProtocol: v}
	case typeNegFailure:
		cc.Failure = &NegotiationFailure{Code: v}
	default:
		return nil, malformed("type 0x%02x where RDP_NEG_RSP (0x02) or RDP_NEG_FAILURE (0x03) was expected", rest[0])
	}
	return cc, nil
}

// Marshal returns the confirm as a whole TPKT frame.
func (c *ConnectionConfirm) Marshal() ([]byte, error) {
	if c == nil {
		return nil, invalid("nil ConnectionConfirm")
	}
	if c.Response != nil && c.Failure != nil {
		return nil, invalid("both RDP_NEG_RSP and RDP_NEG_FAILURE are set")
	}
	p := make([]byte, fixedLen, fixedLen+negLen)
	p[1] = tpduConnectionConfirm
	binary.BigEndian.PutUint16(p[2:4], c.DstRef)
	binary.BigEndian.PutUint16(p[4:6], c.SrcRef)
	switch {
	case c.Response != nil:
		p = append(p, typeNegRsp, c.Response.Flags)
		p = binary.LittleEndian.AppendUint16(p, negLen)
		p = binary.LittleEndian.AppendUint32(p, c.Response.SelectedProtocol)
	case c.Failure != nil:
		p = append(p, typeNegFailure, 0)
		p = binary.LittleEndian.AppendUint16(p, negLen)
		p = binary.LittleEndian.AppendUint32(p, c.Failure.Code)
	}
	return finish(p)
}
