// Package ber reads and writes the subset of the Basic Encoding Rules (X.690) that T.125 uses
// for the MCS Connect Initial and Connect Response PDUs, as profiled by MS-RDPBCGR 2.2.1.3 and
// 2.2.1.4: identifier octets of any class (including the two-octet high-tag-number form of
// [APPLICATION 101] and [APPLICATION 102], 0x7F65 and 0x7F66), definite lengths in the short form
// and in the long form with up to four length octets, and the universal types INTEGER, BOOLEAN,
// OCTET STRING, ENUMERATED and SEQUENCE.
//
// Reader decodes from a byte slice and tracks its position; every error it returns wraps
// ErrMalformed and names the offset. The Append functions encode in the strconv.AppendInt style
// and return errors wrapping ErrInvalid for values that cannot be encoded.
//
// MCS peers encode INTEGER values as unsigned numbers without always adding the leading zero
// octet that two's complement requires (mstsc sends maxMCSPDUsize 65535 as 02 02 FF FF), so
// ReadUnsigned reads the content octets as an unsigned big-endian number. AppendUnsigned writes
// the minimal two's-complement form (02 03 00 FF FF), as FreeRDP does.
//
// No function panics on any input.
package ber

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed wraps every decoding error.
	ErrMalformed = errors.New("ber: malformed encoding")
	// ErrInvalid wraps every error about a value that cannot be encoded.
	ErrInvalid = errors.New("ber: invalid value")
)

// Class is the class of a tag, in the position it has in the first identifier octet.
type Class uint8

// Tag classes (X.690 8.1.2.2).
const (
	ClassUniversal   Class = 0x00
	ClassApplication Class = 0x40
	ClassContext     Class = 0x80
	ClassPrivate     Class = 0xC0
)

// Universal tag numbers used by T.125.
const (
	TagBoolean     = 1
	TagInteger     = 2
	TagOctetString = 4
	TagEnumerated  = 10
	TagSequence    = 16
)

const (
	constructedBit = 0x20
	highTagForm    = 0x1F

	// MaxLengthOctets is the largest number of octets after 0x8n in a long-form length.
	MaxLengthOctets = 4
	// MaxTagNumber is the largest tag number this package reads or writes (four octets of
	// seven bits in the high-tag-number form).
	MaxTagNumber = 1<<28 - 1
	// MaxIntegerOctets is the largest INTEGER content ReadInteger accepts.
	MaxIntegerOctets = 8
	// maxLength is the largest content length accepted: what four length octets can say, and
	// what fits in an int on every platform Go supports.
	maxLength = 1<<31 - 1
)

// Tag identifies an element: its class, whether it is constructed, and its number.
type Tag struct {
	Class       Class
	Constructed bool
	Number      uint32
}

// Universal returns the tag of a universal type; SEQUENCE is constructed, the others primitive.
func Universal(number uint32) Tag {
	return Tag{Class: ClassUniversal, Constructed: number == TagSequence, Number: number}
}

// Application returns the constructed application tag [APPLICATION number], as T.125 uses it
// for the Connect PDUs (101 encodes as 7F 65, 102 as 7F 66).
func Application(number uint32) Tag {
	return Tag{Class: ClassApplication, Constructed: true, Number: number}
}

// String returns the tag in ASN.1 notation, e.g. "[APPLICATION 101]" or "[UNIVERSAL 2]".
func (t Tag) String() string {
	name := "UNIVERSAL"
	switch t.Class {
	case ClassApplication:
		name = "APPLICATION"
	case ClassContext:
		name = "CONTEXT"
	case ClassPrivate:
		name = "PRIVATE"
	}
	return fmt.Sprintf("[%s %d]", name, t.Number)
}

// Header is a decoded identifier and length.
type Header struct {
	Tag Tag
	// Length is the number of content octets.
	Length int
	// LengthSize is the number of octets the length took: 1 for the short form, 2 to 5 for the
	// long form (0x81..0x84 and the length octets). AppendLengthSize reproduces it.
	LengthSize int
	// Size is the number of octets of identifier and length together.
	Size int
}

// Reader decodes BER elements from a byte slice. The zero value reads nothing.
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

// ReadTag consumes identifier octets. The high-tag-number form must be minimal: numbers below
// 31 in the first octet, no leading 0x80 octet, at most four subsequent octets.
func (r *Reader) ReadTag() (Tag, error) {
	start := r.off
	if r.Len() < 1 {
		return Tag{}, r.errorf(start, "need an identifier octet, have none")
	}
	b := r.buf[r.off]
	r.off++
	t := Tag{Class: Class(b & 0xC0), Constructed: b&constructedBit != 0, Number: uint32(b & highTagForm)}
	if t.Number != highTagForm {
		return t, nil
	}
	var n uint32
	for i := 0; ; i++ {
		if i == 4 {
			r.off = start
			return Tag{}, r.errorf(start, "tag number longer than 4 octets")
		}
		if r.Len() < 1 {
			r.off = start
			return Tag{}, r.errorf(start, "tag number cut short")
		}
		c := r.buf[r.off]
		r.off++
		if i == 0 && c == 0x80 {
			r.off = start
			return Tag{}, r.errorf(start, "tag number with a leading zero octet")
		}
		n = n<<7 | uint32(c&0x7F)
		if c&0x80 == 0 {
			break
		}
	}
	if n < highTagForm {
		r.off = start
		return Tag{}, r.errorf(start, "tag number %d in the high-tag-number form", n)
	}
	t.Number = n
	return t, nil
}

// ReadLength consumes a definite length and returns it with the number of octets it took.
// The indefinite form (0x80) and long forms with more than MaxLengthOctets octets are refused;
// non-minimal long forms are accepted, as BER allows.
func (r *Reader) ReadLength() (length, size int, err error) {
	start := r.off
	if r.Len() < 1 {
		return 0, 0, r.errorf(start, "need a length octet, have none")
	}
	b := r.buf[r.off]
	if b < 0x80 {
		r.off++
		return int(b), 1, nil
	}
	k := int(b & 0x7F)
	switch {
	case k == 0:
		return 0, 0, r.errorf(start, "indefinite length")
	case k > MaxLengthOctets:
		return 0, 0, r.errorf(start, "length of %d octets, at most %d supported", k, MaxLengthOctets)
	case r.Len() < 1+k:
		return 0, 0, r.errorf(start, "length needs %d octets, have %d", 1+k, r.Len())
	}
	var n uint64
	for _, c := range r.buf[r.off+1 : r.off+1+k] {
		n = n<<8 | uint64(c)
	}
	if n > maxLength {
		return 0, 0, r.errorf(start, "length %d too large", n)
	}
	r.off += 1 + k
	return int(n), 1 + k, nil
}

// ReadHeader consumes an identifier and a length, and checks that the content fits in the
// remaining bytes.
func (r *Reader) ReadHeader() (Header, error) {
	start := r.off
	t, err := r.ReadTag()
	if err != nil {
		return Header{}, err
	}
	n, size, err := r.ReadLength()
	if err != nil {
		r.off = start
		return Header{}, err
	}
	if n > r.Len() {
		r.off = start
		return Header{}, r.errorf(start, "%s content of %d bytes, only %d remain", t, n, r.Len())
	}
	return Header{Tag: t, Length: n, LengthSize: size, Size: r.off - start}, nil
}

// PeekTag returns the next tag without consuming anything.
func (r *Reader) PeekTag() (Tag, error) {
	save := r.off
	t, err := r.ReadTag()
	r.off = save
	return t, err
}

// ReadElement consumes an element whose tag must be want and returns its header and content.
func (r *Reader) ReadElement(want Tag) (Header, []byte, error) {
	start := r.off
	h, err := r.ReadHeader()
	if err != nil {
		return Header{}, nil, err
	}
	if h.Tag != want {
		r.off = start
		return Header{}, nil, r.errorf(start, "tag %s (constructed %t), want %s (constructed %t)",
			h.Tag, h.Tag.Constructed, want, want.Constructed)
	}
	content, err := r.ReadBytes(h.Length)
	if err != nil {
		r.off = start
		return Header{}, nil, err
	}
	return h, content, nil
}

// ReadSequence consumes a SEQUENCE and returns a Reader over its content.
func (r *Reader) ReadSequence() (*Reader, error) {
	_, content, err := r.ReadElement(Universal(TagSequence))
	if err != nil {
		return nil, err
	}
	return &Reader{buf: content}, nil
}

// ReadApplication consumes a constructed [APPLICATION number] element and returns its header
// and a Reader over its content.
func (r *Reader) ReadApplication(number uint32) (Header, *Reader, error) {
	h, content, err := r.ReadElement(Application(number))
	if err != nil {
		return Header{}, nil, err
	}
	return h, &Reader{buf: content}, nil
}

// ReadBoolean consumes a BOOLEAN: one content octet, zero for false and any other value for true.
func (r *Reader) ReadBoolean() (bool, error) {
	start := r.off
	_, c, err := r.ReadElement(Universal(TagBoolean))
	if err != nil {
		return false, err
	}
	if len(c) != 1 {
		r.off = start
		return false, r.errorf(start, "BOOLEAN of %d octets, want 1", len(c))
	}
	return c[0] != 0, nil
}

// ReadInteger consumes an INTEGER of 1 to MaxIntegerOctets content octets in two's complement.
func (r *Reader) ReadInteger() (int64, error) {
	start := r.off
	_, c, err := r.ReadElement(Universal(TagInteger))
	if err != nil {
		return 0, err
	}
	if len(c) == 0 || len(c) > MaxIntegerOctets {
		r.off = start
		return 0, r.errorf(start, "INTEGER of %d octets, want 1 to %d", len(c), MaxIntegerOctets)
	}
	v := int64(int8(c[0]))
	for _, b := range c[1:] {
		v = v<<8 | int64(b)
	}
	return v, nil
}

// ReadUnsigned consumes an INTEGER and reads its content as an unsigned 32-bit number: 1 to 4
// octets, or 5 when the first is a zero sign octet.
func (r *Reader) ReadUnsigned() (uint32, error) {
	return r.readUnsigned(TagInteger, "INTEGER")
}

// ReadEnumerated consumes an ENUMERATED and reads its content as ReadUnsigned does.
func (r *Reader) ReadEnumerated() (uint32, error) {
	return r.readUnsigned(TagEnumerated, "ENUMERATED")
}

func (r *Reader) readUnsigned(tag uint32, name string) (uint32, error) {
	start := r.off
	_, c, err := r.ReadElement(Universal(tag))
	if err != nil {
		return 0, err
	}
	if len(c) == 5 && c[0] == 0 {
		c = c[1:]
	}
	if len(c) == 0 || len(c) > 4 {
		r.off = start
		return 0, r.errorf(start, "%s of %d octets does not fit in 32 bits unsigned", name, len(c))
	}
	var v uint32
	for _, b := range c {
		v = v<<8 | uint32(b)
	}
	return v, nil
}

// ReadOctetString consumes an OCTET STRING (primitive form) and returns its content.
func (r *Reader) ReadOctetString() ([]byte, error) {
	_, c, err := r.ReadElement(Universal(TagOctetString))
	return c, err
}

// ReadOctetStringHeader consumes an OCTET STRING and also returns its header (to learn the
// length form used).
func (r *Reader) ReadOctetStringHeader() (Header, []byte, error) {
	return r.ReadElement(Universal(TagOctetString))
}

// AppendTag appends identifier octets for t.
func AppendTag(dst []byte, t Tag) ([]byte, error) {
	if t.Class&^0xC0 != 0 {
		return dst, fmt.Errorf("%w: class 0x%02x", ErrInvalid, uint8(t.Class))
	}
	if t.Number > MaxTagNumber {
		return dst, fmt.Errorf("%w: tag number %d above %d", ErrInvalid, t.Number, MaxTagNumber)
	}
	b := byte(t.Class)
	if t.Constructed {
		b |= constructedBit
	}
	if t.Number < highTagForm {
		return append(dst, b|byte(t.Number)), nil
	}
	dst = append(dst, b|highTagForm)
	var tmp [4]byte
	i := len(tmp)
	for n := t.Number; ; n >>= 7 {
		i--
		tmp[i] = byte(n&0x7F) | 0x80
		if n < 0x80 {
			break
		}
	}
	tmp[len(tmp)-1] &^= 0x80
	return append(dst, tmp[i:]...), nil
}

// AppendLength appends n in the minimal definite form.
func AppendLength(dst []byte, n int) ([]byte, error) {
	return AppendLengthSize(dst, n, 1)
}

// AppendLengthSize appends n in the definite form, using at least size octets (as
// Header.LengthSize counts them) when n fits, and the minimal form otherwise. It lets a
// re-encoder keep the length form a peer chose.
func AppendLengthSize(dst []byte, n, size int) ([]byte, error) {
	if n < 0 || n > maxLength {
		return dst, fmt.Errorf("%w: length %d", ErrInvalid, n)
	}
	need := 0 // long-form length octets needed
	for v := n; v > 0; v >>= 8 {
		need++
	}
	if n < 0x80 && size <= 1 {
		return append(dst, byte(n)), nil
	}
	k := max(need, size-1, 1)
	if k > MaxLengthOctets {
		k = max(need, 1)
	}
	dst = append(dst, 0x80|byte(k))
	for i := k - 1; i >= 0; i-- {
		dst = append(dst, byte(n>>(8*i)))
	}
	return dst, nil
}

// AppendElement appends an element with tag t and the given content, with a minimal length.
func AppendElement(dst []byte, t Tag, content []byte) ([]byte, error) {
	return AppendElementSize(dst, t, content, 1)
}

// AppendElementSize is AppendElement with the length written by AppendLengthSize.
func AppendElementSize(dst []byte, t Tag, content []byte, lengthSize int) ([]byte, error) {
	dst, err := AppendTag(dst, t)
	if err != nil {
		return dst, err
	}
	dst, err = AppendLengthSize(dst, len(content), lengthSize)
	if err != nil {
		return dst, err
	}
	return append(dst, content...), nil
}

// AppendBoolean appends a BOOLEAN: 0xFF for true, 0x00 for false.
func AppendBoolean(dst []byte, v bool) []byte {
	c := byte(0)
	if v {
		c = 0xFF
	}
	return append(dst, TagBoolean, 1, c)
}

// AppendInteger appends an INTEGER in the minimal two's-complement form.
func AppendInteger(dst []byte, v int64) []byte {
	return appendTwos(dst, TagInteger, v)
}

// AppendUnsigned appends a non-negative INTEGER in the minimal two's-complement form (with a
// leading zero octet when the top bit of the value's first octet is set).
func AppendUnsigned(dst []byte, v uint32) []byte {
	return appendTwos(dst, TagInteger, int64(v))
}

// AppendEnumerated appends an ENUMERATED in the minimal two's-complement form.
func AppendEnumerated(dst []byte, v uint32) []byte {
	return appendTwos(dst, TagEnumerated, int64(v))
}

func appendTwos(dst []byte, tag byte, v int64) []byte {
	n := 1
	for n < 8 {
		// The value fits in n octets when shifting out all but its top bit leaves only sign.
		if s := v >> uint(8*n-1); s == 0 || s == -1 {
			break
		}
		n++
	}
	dst = append(dst, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*uint(i))))
	}
	return dst
}

// AppendOctetString appends an OCTET STRING with a minimal length.
func AppendOctetString(dst, v []byte) ([]byte, error) {
	return AppendElement(dst, Universal(TagOctetString), v)
}
