// Package per reads and writes the subset of the aligned Packed Encoding Rules (X.691) that
// RDP uses: the T.124 GCC Conference Create Request and Response (MS-RDPBCGR 2.2.1.3.1 and
// 2.2.1.4.1) and the T.125 MCS domain PDUs (2.2.1.5 to 2.2.1.10 and the Send Data PDUs).
//
// Like every RDP implementation, it works octet by octet: the constructs RDP uses happen to
// start on octet boundaries once the few leading bit fields (a CHOICE index, a presence bitmap,
// a small ENUMERATED) are read as whole octets by the caller. The functions are named after
// what they decode:
//
//   - length determinants: one octet below 0x80, else two octets 0x80|hi, lo. The two-octet
//     form is read as a 15-bit number, as FreeRDP and Windows do for MCS payloads between 16 KiB
//     and 32 KiB, rather than as an X.691 fragment count;
//   - CHOICE indexes, SEQUENCE presence bitmaps ("selection"), the number of SET OF elements,
//     padding and ENUMERATED values: one octet each;
//   - INTEGER (0..MAX): a length octet and 1 to 4 big-endian octets;
//   - integer16 with a lower bound (UserId, DynamicChannelId): two octets holding value - min;
//   - OBJECT IDENTIFIER: a length determinant and the X.690 subidentifier octets;
//   - octet stream with a minimum size: a length determinant holding len - min, then the octets;
//   - NumericString of digits with a minimum size: a length determinant holding len - min, then
//     two digits per octet, high nibble first, a trailing zero nibble when the count is odd.
//
// Reader errors wrap ErrMalformed and name the offset; Append errors wrap ErrInvalid. No
// function panics on any input.
package per

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrMalformed wraps every decoding error.
	ErrMalformed = errors.New("per: malformed encoding")
	// ErrInvalid wraps every error about a value that cannot be encoded.
	ErrInvalid = errors.New("per: invalid value")
)

const (
	// MaxLength is the largest length determinant this package reads or writes.
	MaxLength = 0x7FFF
	// MaxOIDArcs bounds the number of arcs of an object identifier.
	MaxOIDArcs = 16
)

// ObjectIdentifier is an OBJECT IDENTIFIER as a list of arcs.
type ObjectIdentifier []uint32

// T124Identifier returns the T.124 object identifier {itu-t(0) recommendation(0) t(20) t124(124)
// version(0) 1} that keys the GCC ConnectData of RDP.
func T124Identifier() ObjectIdentifier {
	return ObjectIdentifier{0, 0, 20, 124, 0, 1}
}

// Equal reports whether o and p have the same arcs.
func (o ObjectIdentifier) Equal(p ObjectIdentifier) bool {
	if len(o) != len(p) {
		return false
	}
	for i := range o {
		if o[i] != p[i] {
			return false
		}
	}
	return true
}

// String returns the dotted form, e.g. "0.0.20.124.0.1".
func (o ObjectIdentifier) String() string {
	parts := make([]string, len(o))
	for i, a := range o {
		parts[i] = strconv.FormatUint(uint64(a), 10)
	}
	return strings.Join(parts, ".")
}

// Reader decodes PER constructs from a byte slice. The zero value reads nothing.
type Reader struct {
	buf []byte
	off int
}

// NewReader returns a Reader over b. The slices it returns alias b.
func NewReader(b []byte) *Reader {
	return &Reader{buf: b}
}

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Len returns the number of bytes not yet consumed.
func (r *Reader) Len() int { return len(r.buf) - r.off }

// Empty reports whether every byte has been consumed.
func (r *Reader) Empty() bool { return r.off >= len(r.buf) }

// Rest returns the bytes not yet consumed without consuming them.
func (r *Reader) Rest() []byte { return r.buf[r.off:] }

func (r *Reader) errorf(off int, format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
}

// ReadBytes consumes n bytes and returns them.
func (r *Reader) ReadBytes(n int) ([]byte, error) {
	if n < 0 || n > r.Len() {
		return nil, r.errorf(r.off, "need %d bytes, have %d", n, r.Len())
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b, nil
}

// ReadByte consumes one byte.
func (r *Reader) ReadByte() (byte, error) {
	if r.Len() < 1 {
		return 0, r.errorf(r.off, "need 1 byte, have none")
	}
	b := r.buf[r.off]
	r.off++
	return b, nil
}

// ReadLength consumes a length determinant and returns it with the number of octets it took
// (1 or 2).
func (r *Reader) ReadLength() (length, size int, err error) {
	start := r.off
	b, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	if b&0x80 == 0 {
		return int(b), 1, nil
	}
	lo, err := r.ReadByte()
	if err != nil {
		r.off = start
		return 0, 0, r.errorf(start, "two-octet length determinant cut short")
	}
	return int(b&0x7F)<<8 | int(lo), 2, nil
}

// ReadChoice consumes a CHOICE index octet.
func (r *Reader) ReadChoice() (byte, error) { return r.ReadByte() }

// ReadSelection consumes a SEQUENCE presence bitmap octet.
func (r *Reader) ReadSelection() (byte, error) { return r.ReadByte() }

// ReadNumberOfSets consumes the element count octet of a SET OF.
func (r *Reader) ReadNumberOfSets() (byte, error) { return r.ReadByte() }

// ReadPadding consumes n padding octets and returns them (their value is not checked).
func (r *Reader) ReadPadding(n int) ([]byte, error) { return r.ReadBytes(n) }

// ReadEnumerated consumes an ENUMERATED octet whose value must be below count.
func (r *Reader) ReadEnumerated(count int) (byte, error) {
	start := r.off
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if int(b) >= count {
		r.off = start
		return 0, r.errorf(start, "enumerated value %d, want below %d", b, count)
	}
	return b, nil
}

// ReadInteger consumes an INTEGER (0..MAX): a length octet (1 to 4; the two-octet length form
// is refused here) and that many big-endian octets. It returns the value and the number of
// value octets.
func (r *Reader) ReadInteger() (v uint32, size int, err error) {
	start := r.off
	l, err := r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	n := int(l)
	if n < 1 || n > 4 {
		r.off = start
		return 0, 0, r.errorf(start, "integer of %d octets, want 1 to 4", n)
	}
	b, err := r.ReadBytes(n)
	if err != nil {
		r.off = start
		return 0, 0, err
	}
	for _, c := range b {
		v = v<<8 | uint32(c)
	}
	return v, n, nil
}

// ReadInteger16 consumes a two-octet constrained integer and returns it plus lower. The sum must
// fit in 16 bits.
func (r *Reader) ReadInteger16(lower uint16) (uint16, error) {
	start := r.off
	b, err := r.ReadBytes(2)
	if err != nil {
		return 0, err
	}
	v := uint32(b[0])<<8 | uint32(b[1]) + uint32(lower)
	if v > 0xFFFF {
		r.off = start
		return 0, r.errorf(start, "integer16 %d + %d overflows 16 bits", v-uint32(lower), lower)
	}
	return uint16(v), nil
}

// ReadObjectIdentifier consumes an OBJECT IDENTIFIER: a length determinant and the X.690
// subidentifiers, each minimal (no leading 0x80 octet) and at most 32 bits.
func (r *Reader) ReadObjectIdentifier() (ObjectIdentifier, error) {
	start := r.off
	n, _, err := r.ReadLength()
	if err != nil {
		return nil, err
	}
	b, err := r.ReadBytes(n)
	if err != nil {
		r.off = start
		return nil, err
	}
	if n == 0 {
		r.off = start
		return nil, r.errorf(start, "empty object identifier")
	}
	var arcs []uint32
	for i := 0; i < len(b); {
		if len(arcs) >= MaxOIDArcs {
			r.off = start
			return nil, r.errorf(start, "object identifier with more than %d arcs", MaxOIDArcs)
		}
		if b[i] == 0x80 {
			r.off = start
			return nil, r.errorf(start, "object identifier subidentifier with a leading zero octet")
		}
		var v uint64
		for {
			if i >= len(b) {
				r.off = start
				return nil, r.errorf(start, "object identifier cut short")
			}
			c := b[i]
			i++
			v = v<<7 | uint64(c&0x7F)
			if v > 0xFFFFFFFF {
				r.off = start
				return nil, r.errorf(start, "object identifier arc above 32 bits")
			}
			if c&0x80 == 0 {
				break
			}
		}
		if len(arcs) == 0 {
			// The first subidentifier holds 40*X + Y with X in 0..2.
			x := min(v/40, 2)
			arcs = append(arcs, uint32(x), uint32(v-40*x))
			continue
		}
		arcs = append(arcs, uint32(v))
	}
	return arcs, nil
}

// ReadOctetStream consumes an octet string of at least minLen octets: a length determinant
// holding len - minLen, then the octets.
func (r *Reader) ReadOctetStream(minLen int) ([]byte, error) {
	start := r.off
	if minLen < 0 || minLen > MaxLength {
		return nil, r.errorf(start, "minimum length %d out of range", minLen)
	}
	n, _, err := r.ReadLength()
	if err != nil {
		return nil, err
	}
	b, err := r.ReadBytes(n + minLen)
	if err != nil {
		r.off = start
		return nil, err
	}
	return b, nil
}

// ReadNumericString consumes a NumericString of digits of at least minLen characters: a length
// determinant holding len - minLen, then the digits packed two per octet. Nibbles above 9 and a
// non-zero padding nibble are refused.
func (r *Reader) ReadNumericString(minLen int) (string, error) {
	start := r.off
	if minLen < 0 || minLen > MaxLength {
		return "", r.errorf(start, "minimum length %d out of range", minLen)
	}
	n, _, err := r.ReadLength()
	if err != nil {
		return "", err
	}
	n += minLen
	b, err := r.ReadBytes((n + 1) / 2)
	if err != nil {
		r.off = start
		return "", err
	}
	s := make([]byte, 0, n)
	for i := range n {
		d := b[i/2] >> 4
		if i%2 == 1 {
			d = b[i/2] & 0x0F
		}
		if d > 9 {
			r.off = start
			return "", r.errorf(start, "numeric string digit nibble 0x%x", d)
		}
		s = append(s, '0'+d)
	}
	if n%2 == 1 && b[n/2]&0x0F != 0 {
		r.off = start
		return "", r.errorf(start, "numeric string padding nibble 0x%x", b[n/2]&0x0F)
	}
	return string(s), nil
}

// AppendLength appends a length determinant in the minimal form.
func AppendLength(dst []byte, n int) ([]byte, error) {
	return AppendLengthSize(dst, n, 1)
}

// AppendLengthSize appends a length determinant, in the two-octet form when size is 2 or n
// needs it. It lets a re-encoder keep the form a peer chose.
func AppendLengthSize(dst []byte, n, size int) ([]byte, error) {
	if n < 0 || n > MaxLength {
		return dst, fmt.Errorf("%w: length %d, want 0 to %d", ErrInvalid, n, MaxLength)
	}
	if n < 0x80 && size <= 1 {
		return append(dst, byte(n)), nil
	}
	return append(dst, 0x80|byte(n>>8), byte(n)), nil
}

// AppendChoice appends a CHOICE index octet.
func AppendChoice(dst []byte, c byte) []byte { return append(dst, c) }

// AppendSelection appends a SEQUENCE presence bitmap octet.
func AppendSelection(dst []byte, s byte) []byte { return append(dst, s) }

// AppendNumberOfSets appends the element count octet of a SET OF.
func AppendNumberOfSets(dst []byte, n byte) []byte { return append(dst, n) }

// AppendPadding appends n zero octets.
func AppendPadding(dst []byte, n int) []byte {
	for range n {
		dst = append(dst, 0)
	}
	return dst
}

// AppendEnumerated appends an ENUMERATED octet; v must be below count.
func AppendEnumerated(dst []byte, v byte, count int) ([]byte, error) {
	if int(v) >= count {
		return dst, fmt.Errorf("%w: enumerated value %d, want below %d", ErrInvalid, v, count)
	}
	return append(dst, v), nil
}

// AppendInteger appends an INTEGER (0..MAX) in the minimal number of octets.
func AppendInteger(dst []byte, v uint32) []byte {
	return AppendIntegerSize(dst, v, 1)
}

// AppendIntegerSize appends an INTEGER (0..MAX) in at least size (1 to 4) octets.
func AppendIntegerSize(dst []byte, v uint32, size int) []byte {
	n := 1
	for x := v >> 8; x > 0; x >>= 8 {
		n++
	}
	n = min(max(n, size), 4)
	dst = append(dst, byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*uint(i))))
	}
	return dst
}

// AppendInteger16 appends v - lower in two octets; v must not be below lower.
func AppendInteger16(dst []byte, v, lower uint16) ([]byte, error) {
	if v < lower {
		return dst, fmt.Errorf("%w: integer16 %d below its minimum %d", ErrInvalid, v, lower)
	}
	d := v - lower
	return append(dst, byte(d>>8), byte(d)), nil
}

// AppendObjectIdentifier appends an OBJECT IDENTIFIER: a length determinant and the X.690
// subidentifiers. The first arc must be 0 to 2, the second below 40 unless the first is 2.
func AppendObjectIdentifier(dst []byte, o ObjectIdentifier) ([]byte, error) {
	if len(o) < 2 || len(o) > MaxOIDArcs {
		return dst, fmt.Errorf("%w: object identifier of %d arcs, want 2 to %d", ErrInvalid, len(o), MaxOIDArcs)
	}
	if o[0] > 2 || (o[0] < 2 && o[1] >= 40) || uint64(o[0])*40+uint64(o[1]) > 0xFFFFFFFF {
		return dst, fmt.Errorf("%w: object identifier %s has an invalid first arc pair", ErrInvalid, o)
	}
	var content []byte
	content = appendBase128(content, o[0]*40+o[1])
	for _, a := range o[2:] {
		content = appendBase128(content, a)
	}
	dst, err := AppendLength(dst, len(content))
	if err != nil {
		return dst, err
	}
	return append(dst, content...), nil
}

func appendBase128(dst []byte, v uint32) []byte {
	var tmp [5]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte(v&0x7F) | 0x80
		v >>= 7
		if v == 0 {
			break
		}
	}
	tmp[len(tmp)-1] &^= 0x80
	return append(dst, tmp[i:]...)
}

// AppendOctetStream appends an octet string of at least minLen octets (length determinant
// holding len - minLen).
func AppendOctetStream(dst, b []byte, minLen int) ([]byte, error) {
	if minLen < 0 || len(b) < minLen {
		return dst, fmt.Errorf("%w: octet string of %d octets, want at least %d", ErrInvalid, len(b), minLen)
	}
	dst, err := AppendLength(dst, len(b)-minLen)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// AppendNumericString appends a NumericString of digits of at least minLen characters.
func AppendNumericString(dst []byte, s string, minLen int) ([]byte, error) {
	if minLen < 0 || len(s) < minLen {
		return dst, fmt.Errorf("%w: numeric string of %d digits, want at least %d", ErrInvalid, len(s), minLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return dst, fmt.Errorf("%w: numeric string has non-digit 0x%02x", ErrInvalid, s[i])
		}
	}
	dst, err := AppendLength(dst, len(s)-minLen)
	if err != nil {
		return dst, err
	}
	for i := 0; i < len(s); i += 2 {
		b := (s[i] - '0') << 4
		if i+1 < len(s) {
			b |= s[i+1] - '0'
		}
		dst = append(dst, b)
	}
	return dst, nil
}
