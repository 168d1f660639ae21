// Package pdu parses and builds the slow-path RDP PDUs that an RDP front-door proxy reads or
// rewrites, written from MS-RDPBCGR:
//
//   - the basic security header (2.2.8.1.1.2.1) that precedes the Client Info PDU and the
//     licensing PDUs when TLS protects the connection;
//   - the Client Info PDU, TS_INFO_PACKET with TS_EXTENDED_INFO_PACKET (2.2.1.11.1.1), whose
//     credentials, autologon and compression flags a credential-injecting proxy rewrites;
//   - the Share Control and Share Data headers (2.2.8.1.1.1.1, 2.2.8.1.1.1.2);
//   - Demand Active and Confirm Active with their capability sets (2.2.1.13.1, 2.2.1.13.2,
//     2.2.7), with typed helpers for the sets a recording proxy rewrites;
//   - Deactivate All, Synchronize, Control, Font List, Font Map, Set Error Info, Save Session
//     Info and the licensing preamble with its "valid client" error message, to recognise them.
//
// Every parser takes the user data of an MCS Send Data Request or Indication (what follows the
// MCS header), checks its bounds and returns an error wrapping ErrMalformed, or ErrUnsupported
// for what only standard RDP security (RC4) would carry; none panics. Marshal methods recompute
// the length and count fields and return errors wrapping ErrInvalid. A PDU parsed and marshalled
// again without change yields the bytes it was parsed from: fields without meaning (padding,
// reserved values, unknown capability sets, trailing bytes of extensible structures) are kept.
//
// Parsed values do not alias their input, except where a field's documentation says so.
//
// The Client Info PDU carries the user's password: ClientInfo keeps it out of its String,
// GoString and Format output, and ZeroPassword overwrites it. The input a ClientInfo was parsed
// from and the bytes Marshal returns hold the password as well; callers clear them after use.
package pdu

import (
	"encoding/binary"
	"errors"
	"fmt"
)

var (
	// ErrMalformed wraps every parsing error about bytes that do not form the expected PDU.
	ErrMalformed = errors.New("pdu: malformed PDU")
	// ErrInvalid wraps every error about a value that cannot be marshalled.
	ErrInvalid = errors.New("pdu: invalid value")
	// ErrUnsupported wraps errors about well-formed input this package does not handle, such as
	// PDUs encrypted with standard RDP security.
	ErrUnsupported = errors.New("pdu: unsupported")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// reader reads little-endian fields from a byte slice. The first read past the end records an
// error naming the field; later reads return zero values, so a parser checks r.err once.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.left() {
		r.err = malformed("%s needs %d bytes, %d left", what, n, r.left())
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8(what string) uint8 {
	p := r.take(1, what)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u16(what string) uint16 {
	p := r.take(2, what)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(p)
}

func (r *reader) u32(what string) uint32 {
	p := r.take(4, what)
	if p == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(p)
}

// rest returns the unread bytes (aliasing the input) and consumes them.
func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	p := r.b[r.off:len(r.b):len(r.b)]
	r.off = len(r.b)
	return p
}

// clone copies b; it returns nil for an empty b, so parsed values compare equal however the
// input was sliced.
func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func le16(dst []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(dst, v) }
func le32(dst []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(dst, v) }

func wrapUnsupported(msg string) error { return fmt.Errorf("%w: %s", ErrUnsupported, msg) }
