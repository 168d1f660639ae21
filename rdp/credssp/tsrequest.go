package credssp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

const (
	// MaxTSRequestLen is the default limit on a TSRequest, whole DER element included.
	MaxTSRequestLen = 64 << 10
	// maxNegoTokens bounds the entries of negoTokens.
	maxNegoTokens = 16
)

// TSRequest is the CredSSP message (MS-CSSP 2.2.1):
//
//	TSRequest ::= SEQUENCE {
//	        version    [0] INTEGER,
//	        negoTokens [1] NegoData  OPTIONAL,
//	        authInfo   [2] OCTET STRING OPTIONAL,
//	        pubKeyAuth [3] OCTET STRING OPTIONAL,
//	        errorCode  [4] INTEGER OPTIONAL,
//	        clientNonce [5] OCTET STRING OPTIONAL
//	}
//	NegoData ::= SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }
//
// A nil slice is an absent field; a non-nil empty slice is a present, empty one.
type TSRequest struct {
	Version     int
	NegoTokens  [][]byte
	AuthInfo    []byte
	PubKeyAuth  []byte
	ErrorCode   uint32 // an NTSTATUS; 0 when absent
	ClientNonce []byte
}

// String summarises the request by field sizes: the NTLM tokens it carries can be used to guess
// the password offline and are never shown.
func (r *TSRequest) String() string {
	if r == nil {
		return "credssp.TSRequest(nil)"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "credssp.TSRequest{version: %d", r.Version)
	if r.NegoTokens != nil {
		fmt.Fprintf(&b, ", negoTokens: %d", len(r.NegoTokens))
	}
	if r.AuthInfo != nil {
		fmt.Fprintf(&b, ", authInfo: %d bytes", len(r.AuthInfo))
	}
	if r.PubKeyAuth != nil {
		fmt.Fprintf(&b, ", pubKeyAuth: %d bytes", len(r.PubKeyAuth))
	}
	if r.ErrorCode != 0 {
		fmt.Fprintf(&b, ", errorCode: %s", statusName(r.ErrorCode))
	}
	if r.ClientNonce != nil {
		fmt.Fprintf(&b, ", clientNonce: %d bytes", len(r.ClientNonce))
	}
	b.WriteString("}")
	return b.String()
}

// GoString is like String.
func (r *TSRequest) GoString() string { return r.String() }

// ErrMalformed wraps every error about a TSRequest or TSCredentials that cannot be parsed.
var ErrMalformed = errors.New("credssp: malformed message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ParseTSRequest parses one DER-encoded TSRequest (no trailing bytes) of at most
// MaxTSRequestLen bytes. Fields must come in increasing tag order; context tags above [5] are
// skipped for forward compatibility. The result does not alias b.
func ParseTSRequest(b []byte) (*TSRequest, error) {
	if len(b) > MaxTSRequestLen {
		return nil, malformed("TSRequest of %d bytes, limit %d", len(b), MaxTSRequestLen)
	}
	body, err := only(b, tagSequence, "TSRequest")
	if err != nil {
		return nil, err
	}
	r := &TSRequest{}
	last, seenVersion := -1, false
	for len(body) > 0 {
		var tag byte
		var inner []byte
		if tag, inner, body, err = parseTLV(body); err != nil {
			return nil, fmt.Errorf("TSRequest field: %w", err)
		}
		if tag&0xE0 != tagContext {
			return nil, malformed("TSRequest field with tag 0x%02x, want a context tag", tag)
		}
		n := int(tag & 0x1F)
		if n <= last {
			return nil, malformed("TSRequest field [%d] after [%d]", n, last)
		}
		last = n
		switch n {
		case 0:
			c, err := only(inner, tagInteger, "version")
			if err != nil {
				return nil, err
			}
			v, err := parseInteger(c, "version")
			if err != nil {
				return nil, err
			}
			if v < 0 || v > math.MaxInt32 {
				return nil, malformed("version %d", v)
			}
			r.Version, seenVersion = int(v), true
		case 1:
			if r.NegoTokens, err = parseNegoData(inner); err != nil {
				return nil, err
			}
		case 2:
			if r.AuthInfo, err = parseOctets(inner, "authInfo"); err != nil {
				return nil, err
			}
		case 3:
			if r.PubKeyAuth, err = parseOctets(inner, "pubKeyAuth"); err != nil {
				return nil, err
			}
		case 4:
			c, err := only(inner, tagInteger, "errorCode")
			if err != nil {
				return nil, err
			}
			v, err := parseInteger(c, "errorCode")
			if err != nil {
				return nil, err
			}
			if v < math.MinInt32 || v > math.MaxUint32 {
				return nil, malformed("errorCode %d does not fit 32 bits", v)
			}
			r.ErrorCode = uint32(v)
		case 5:
			if r.ClientNonce, err = parseOctets(inner, "clientNonce"); err != nil {
				return nil, err
			}
		}
	}
	if !seenVersion {
		return nil, malformed("TSRequest without version")
	}
	return r, nil
}

func parseOctets(inner []byte, what string) ([]byte, error) {
	c, err := only(inner, tagOctetString, what)
	if err != nil {
		return nil, err
	}
	return append([]byte{}, c...), nil
}

func parseNegoData(inner []byte) ([][]byte, error) {
	seq, err := only(inner, tagSequence, "negoTokens")
	if err != nil {
		return nil, err
	}
	tokens := [][]byte{}
	for len(seq) > 0 {
		if len(tokens) == maxNegoTokens {
			return nil, malformed("more than %d negoTokens", maxNegoTokens)
		}
		var item []byte
		if item, seq, err = expect(seq, tagSequence, "NegoData item"); err != nil {
			return nil, err
		}
		tok, err := only(item, tagContext|0, "negoToken")
		if err != nil {
			return nil, err
		}
		octets, err := parseOctets(tok, "negoToken")
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, octets)
	}
	return tokens, nil
}

// Marshal returns the DER encoding of the request. It fails for a negative version, more than
// 16 negoTokens or a result longer than MaxTSRequestLen.
func (r *TSRequest) Marshal() ([]byte, error) {
	if r == nil {
		return nil, errors.New("credssp: nil TSRequest")
	}
	if r.Version < 0 {
		return nil, fmt.Errorf("credssp: negative TSRequest version %d", r.Version)
	}
	if len(r.NegoTokens) > maxNegoTokens {
		return nil, fmt.Errorf("credssp: %d negoTokens, at most %d", len(r.NegoTokens), maxNegoTokens)
	}
	var body []byte
	explicit := func(n byte, tag byte, content []byte) {
		body = appendHeader(body, tagContext|n, tlvLen(len(content)))
		body = appendTLV(body, tag, content)
	}
	explicit(0, tagInteger, integerContent(int64(r.Version)))
	if r.NegoTokens != nil {
		var seq []byte
		for _, tok := range r.NegoTokens {
			item := appendHeader(nil, tagContext|0, tlvLen(len(tok)))
			item = appendTLV(item, tagOctetString, tok)
			seq = appendTLV(seq, tagSequence, item)
		}
		explicit(1, tagSequence, seq)
	}
	if r.AuthInfo != nil {
		explicit(2, tagOctetString, r.AuthInfo)
	}
	if r.PubKeyAuth != nil {
		explicit(3, tagOctetString, r.PubKeyAuth)
	}
	if r.ErrorCode != 0 {
		explicit(4, tagInteger, integerContent(int64(int32(r.ErrorCode))))
	}
	if r.ClientNonce != nil {
		explicit(5, tagOctetString, r.ClientNonce)
	}
	if n := tlvLen(len(body)); n > MaxTSRequestLen {
		return nil, fmt.Errorf("credssp: TSRequest of %d bytes, limit %d", n, MaxTSRequestLen)
	}
	return appendTLV(make([]byte, 0, tlvLen(len(body))), tagSequence, body), nil
}

// ReadTSRequest reads exactly one DER element that starts like a TSRequest (a SEQUENCE) from r
// and returns it whole; it never reads past it. maxLen bounds the element (header included);
// a value <= 0 means MaxTSRequestLen. The length is checked before the body is allocated.
func ReadTSRequest(r io.Reader, maxLen int) ([]byte, error) {
	if maxLen <= 0 {
		maxLen = MaxTSRequestLen
	}
	var hdr [2 + maxLengthBytes]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("credssp: read TSRequest header: %w", err)
	}
	if hdr[0] != tagSequence {
		return nil, malformed("TSRequest starts with 0x%02x, want 0x30 (SEQUENCE)", hdr[0])
	}
	hdrLen := 2
	if k := int(hdr[1] & 0x7F); hdr[1]&0x80 != 0 {
		if k == 0 || k > maxLengthBytes {
			return nil, malformed("TSRequest length byte 0x%02x", hdr[1])
		}
		if _, err := io.ReadFull(r, hdr[2:2+k]); err != nil {
			return nil, fmt.Errorf("credssp: read TSRequest length: %w", unexpectedEOF(err))
		}
		hdrLen += k
	}
	n, _, err := parseLength(hdr[1:hdrLen])
	if err != nil {
		return nil, err
	}
	if n > maxLen-hdrLen {
		return nil, fmt.Errorf("%w: TSRequest of %d bytes, limit %d", ErrTooLarge, n+hdrLen, maxLen)
	}
	msg := make([]byte, hdrLen+n)
	copy(msg, hdr[:hdrLen])
	if _, err := io.ReadFull(r, msg[hdrLen:]); err != nil {
		return nil, fmt.Errorf("credssp: read %d-byte TSRequest: %w", len(msg), unexpectedEOF(err))
	}
	return msg, nil
}

// ErrTooLarge reports a message over the size limit.
var ErrTooLarge = errors.New("credssp: message too large")

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// credTypePassword is TSCredentials.credType for TSPasswordCreds (MS-CSSP 2.2.1.2).
const credTypePassword = 1

// maxCredentialUnits bounds each TSPasswordCreds string, in UTF-16 code units.
const maxCredentialUnits = 1024

// marshalPasswordCreds encodes
//
//	TSCredentials ::= SEQUENCE { credType [0] INTEGER (1), credentials [1] OCTET STRING }
//	TSPasswordCreds ::= SEQUENCE { domainName [0] OCTET STRING, userName [1] OCTET STRING,
//	        password [2] OCTET STRING }
//
// with the strings in UTF-16LE, into one buffer of the exact size, which the caller zeroes.
func marshalPasswordCreds(domain, user, password string) ([]byte, error) {
	strs := [3]string{domain, user, password}
	var units [3]int
	for i, s := range strs {
		if !utf8.ValidString(s) {
			return nil, fmt.Errorf("credssp: credential field %d is not valid UTF-8", i)
		}
		for _, r := range s {
			units[i] += utf16.RuneLen(r)
		}
		if units[i] > maxCredentialUnits {
			return nil, fmt.Errorf("credssp: credential field %d longer than %d UTF-16 code units", i, maxCredentialUnits)
		}
	}
	// Sizes from the inside out.
	var fieldLen [3]int
	pwCreds := 0
	for i := range strs {
		fieldLen[i] = tlvLen(tlvLen(2 * units[i]))
		pwCreds += fieldLen[i]
	}
	credType := integerContent(credTypePassword)
	credsBody := tlvLen(tlvLen(len(credType))) + tlvLen(tlvLen(tlvLen(pwCreds)))
	total := tlvLen(credsBody)

	b := make([]byte, 0, total)
	b = appendHeader(b, tagSequence, credsBody)
	b = appendHeader(b, tagContext|0, tlvLen(len(credType)))
	b = appendTLV(b, tagInteger, credType)
	b = appendHeader(b, tagContext|1, tlvLen(tlvLen(pwCreds)))
	b = appendHeader(b, tagOctetString, tlvLen(pwCreds))
	b = appendHeader(b, tagSequence, pwCreds)
	for i, s := range strs {
		b = appendHeader(b, tagContext|byte(i), tlvLen(2*units[i]))
		b = appendHeader(b, tagOctetString, 2*units[i])
		b = appendUTF16LE(b, s)
	}
	if len(b) != total || cap(b) != total {
		clear(b[:cap(b)])
		return nil, errors.New("credssp: internal error sizing TSCredentials")
	}
	return b, nil
}

// appendUTF16LE appends s in UTF-16LE without an intermediate buffer.
func appendUTF16LE(dst []byte, s string) []byte {
	var u [2]uint16
	for _, r := range s {
		for _, c := range utf16.AppendRune(u[:0], r) {
			dst = append(dst, byte(c), byte(c>>8))
		}
	}
	return dst
}

// passwordCreds is a parsed TSPasswordCreds, strings in UTF-16LE.
type passwordCreds struct {
	domain, user, password []byte
}

// parsePasswordCreds parses TSCredentials carrying TSPasswordCreds. The result aliases b.
func parsePasswordCreds(b []byte) (*passwordCreds, error) {
	body, err := only(b, tagSequence, "TSCredentials")
	if err != nil {
		return nil, err
	}
	ct, body, err := expect(body, tagContext|0, "credType")
	if err != nil {
		return nil, err
	}
	c, err := only(ct, tagInteger, "credType")
	if err != nil {
		return nil, err
	}
	if v, err := parseInteger(c, "credType"); err != nil || v != credTypePassword {
		return nil, malformed("credType is not 1 (password)")
	}
	cr, err := only(body, tagContext|1, "credentials")
	if err != nil {
		return nil, err
	}
	octets, err := only(cr, tagOctetString, "credentials")
	if err != nil {
		return nil, err
	}
	seq, err := only(octets, tagSequence, "TSPasswordCreds")
	if err != nil {
		return nil, err
	}
	var out [3][]byte
	for i := range out {
		var f []byte
		if f, seq, err = expect(seq, tagContext|byte(i), "TSPasswordCreds field"); err != nil {
			return nil, err
		}
		if out[i], err = only(f, tagOctetString, "TSPasswordCreds field"); err != nil {
			return nil, err
		}
	}
	if len(seq) != 0 {
		return nil, malformed("%d bytes after TSPasswordCreds", len(seq))
	}
	return &passwordCreds{domain: out[0], user: out[1], password: out[2]}, nil
}
