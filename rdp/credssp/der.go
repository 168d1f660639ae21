package credssp

import (
	"fmt"
	"math"
)

// A small DER codec for the few types MS-CSSP uses: SEQUENCE, explicit context tags, INTEGER and
// OCTET STRING. Written by hand rather than with encoding/asn1 so that the one buffer holding
// TSCredentials can be sized exactly and zeroed, and so that parsing is bounded and strict about
// structure. Parsing accepts the BER leniencies a peer might produce without harm (non-minimal
// length and INTEGER encodings); encoding is DER.

// ASN.1 identifiers used here (low-tag-number form only).
const (
	tagInteger     byte = 0x02
	tagOctetString byte = 0x04
	tagSequence    byte = 0x30 // SEQUENCE / SEQUENCE OF, constructed
	tagContext     byte = 0xA0 // context-specific, constructed: [n] is tagContext|n
)

// maxLengthBytes bounds the long form of a length: 4 bytes describe far more than any limit here.
const maxLengthBytes = 4

// parseTLV splits the first element off b. The tag must use the low-tag-number form and the
// length the definite form.
func parseTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, malformed("element header needs 2 bytes, have %d", len(b))
	}
	tag = b[0]
	if tag&0x1F == 0x1F {
		return 0, nil, nil, malformed("high-tag-number form (0x%02x) is not used by CredSSP", tag)
	}
	n, hdr, err := parseLength(b[1:])
	if err != nil {
		return 0, nil, nil, err
	}
	hdr++ // the tag byte
	if n > len(b)-hdr {
		return 0, nil, nil, malformed("element 0x%02x of %d bytes, only %d follow its header", tag, n, len(b)-hdr)
	}
	return tag, b[hdr : hdr+n], b[hdr+n:], nil
}

// parseLength decodes a definite length at the start of b and returns it with the number of
// bytes it took.
func parseLength(b []byte) (n, size int, err error) {
	if len(b) < 1 {
		return 0, 0, malformed("missing length")
	}
	first := b[0]
	if first < 0x80 {
		return int(first), 1, nil
	}
	k := int(first & 0x7F)
	switch {
	case k == 0:
		return 0, 0, malformed("indefinite length is not allowed")
	case k > maxLengthBytes:
		return 0, 0, malformed("length of %d bytes is too long", k)
	case len(b) < 1+k:
		return 0, 0, malformed("length needs %d bytes, have %d", k, len(b)-1)
	}
	v := 0
	for _, c := range b[1 : 1+k] {
		v = v<<8 | int(c)
	}
	if v > math.MaxInt32 {
		return 0, 0, malformed("length %d is too large", v)
	}
	return v, 1 + k, nil
}

// expect parses one element with the given tag.
func expect(b []byte, tag byte, what string) (content, rest []byte, err error) {
	t, content, rest, err := parseTLV(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if t != tag {
		return nil, nil, malformed("%s: tag 0x%02x, want 0x%02x", what, t, tag)
	}
	return content, rest, nil
}

// only parses b as exactly one element with the given tag.
func only(b []byte, tag byte, what string) ([]byte, error) {
	content, rest, err := expect(b, tag, what)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, malformed("%s: %d bytes after the element", what, len(rest))
	}
	return content, nil
}

// parseInteger decodes the content of an INTEGER of at most 8 bytes (two's complement).
func parseInteger(c []byte, what string) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, malformed("%s: INTEGER of %d bytes", what, len(c))
	}
	v := int64(int8(c[0]))
	for _, b := range c[1:] {
		v = v<<8 | int64(b)
	}
	return v, nil
}

// lengthLen is the size of the DER encoding of length n.
func lengthLen(n int) int {
	switch {
	case n < 0x80:
		return 1
	case n <= 0xFF:
		return 2
	case n <= 0xFFFF:
		return 3
	case n <= 0xFFFFFF:
		return 4
	default:
		return 5
	}
}

// tlvLen is the size of an element with n content bytes.
func tlvLen(n int) int { return 1 + lengthLen(n) + n }

// appendHeader appends a tag and the DER length n.
func appendHeader(dst []byte, tag byte, n int) []byte {
	dst = append(dst, tag)
	switch k := lengthLen(n); k {
	case 1:
		return append(dst, byte(n))
	default:
		dst = append(dst, 0x80|byte(k-1))
		for i := k - 2; i >= 0; i-- {
			dst = append(dst, byte(n>>(8*i)))
		}
		return dst
	}
}

// appendTLV appends a whole element.
func appendTLV(dst []byte, tag byte, content []byte) []byte {
	return append(appendHeader(dst, tag, len(content)), content...)
}

// integerContent returns the minimal two's complement encoding of v.
func integerContent(v int64) []byte {
	n := 8
	for n > 1 {
		top := byte(v >> (8 * (n - 1)))
		next := byte(v >> (8 * (n - 2)))
		if (top == 0 && next&0x80 == 0) || (top == 0xFF && next&0x80 != 0) {
			n--
			continue
		}
		break
	}
	out := make([]byte, n)
	for i := range n {
		out[i] = byte(v >> (8 * (n - 1 - i)))
	}
	return out
}
