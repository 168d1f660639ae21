// Package preconnection reads and writes the RDP Preconnection PDU (MS-RDPEPS 2.2.1.1 and
// 2.2.1.2), which a client sends before the X.224 Connection Request when its .rdp file has
// `pcb:s:` (version 2, carrying a string) or `pcb:i:` (version 1, an id). The proxy accepts a
// ticket in the version 2 string as an alternative to the routing token.
//
// A stream starts with a Preconnection PDU exactly when its first byte is not 0x03 (TPKT's
// version): cbSize is 16 for version 1 and even for version 2.
package preconnection

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"
)

const (
	// Version1 carries only Id.
	Version1 = 1
	// Version2 adds the PCB string.
	Version2 = 2
	// MaxPCBChars bounds the string (the spec allows 65535; tickets are short).
	MaxPCBChars = 1024

	v1Size = 16
	// MaxSize is the largest PDU Read accepts.
	MaxSize = v1Size + 2 + 2*MaxPCBChars
)

// ErrMalformed wraps every parsing error.
var ErrMalformed = errors.New("preconnection: malformed PDU")

// PDU is a Preconnection PDU.
type PDU struct {
	Version uint32
	ID      uint32
	// PCB is the version 2 string, without its null terminator.
	PCB string
}

// Starts reports whether a stream whose first byte is first starts with a Preconnection PDU.
func Starts(first byte) bool { return first != 0x03 }

// Read reads one PDU from r.
func Read(r io.Reader) (*PDU, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read preconnection size: %w", err)
	}
	size := binary.LittleEndian.Uint32(hdr[:])
	if size < v1Size || size > MaxSize {
		return nil, fmt.Errorf("%w: size %d outside %d..%d", ErrMalformed, size, v1Size, MaxSize)
	}
	buf := make([]byte, size)
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		return nil, fmt.Errorf("read preconnection PDU: %w", err)
	}
	return Parse(buf)
}

// Parse reads a whole PDU.
func Parse(b []byte) (*PDU, error) {
	if len(b) < v1Size {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(b), v1Size)
	}
	size := binary.LittleEndian.Uint32(b[0:])
	if int(size) != len(b) {
		return nil, fmt.Errorf("%w: cbSize %d but %d bytes", ErrMalformed, size, len(b))
	}
	if flags := binary.LittleEndian.Uint32(b[4:]); flags != 0 {
		return nil, fmt.Errorf("%w: flags %#x, want 0", ErrMalformed, flags)
	}
	p := &PDU{Version: binary.LittleEndian.Uint32(b[8:]), ID: binary.LittleEndian.Uint32(b[12:])}
	switch p.Version {
	case Version1:
		if len(b) != v1Size {
			return nil, fmt.Errorf("%w: version 1 PDU of %d bytes", ErrMalformed, len(b))
		}
		return p, nil
	case Version2:
	default:
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, p.Version)
	}
	if len(b) < v1Size+2 {
		return nil, fmt.Errorf("%w: version 2 PDU without cchPCB", ErrMalformed)
	}
	cch := int(binary.LittleEndian.Uint16(b[v1Size:]))
	rest := b[v1Size+2:]
	if cch > MaxPCBChars || len(rest) != 2*cch {
		return nil, fmt.Errorf("%w: cchPCB %d does not fit %d bytes", ErrMalformed, cch, len(rest))
	}
	units := make([]uint16, cch)
	for i := range units {
		units[i] = binary.LittleEndian.Uint16(rest[2*i:])
	}
	if cch > 0 && units[cch-1] == 0 {
		units = units[:cch-1]
	}
	for _, u := range units {
		if u == 0 {
			return nil, fmt.Errorf("%w: null character inside the PCB string", ErrMalformed)
		}
	}
	p.PCB = string(utf16.Decode(units))
	return p, nil
}

// Marshal encodes p; version 2 strings get a null terminator.
func (p *PDU) Marshal() ([]byte, error) {
	switch p.Version {
	case Version1:
		if p.PCB != "" {
			return nil, errors.New("preconnection: a version 1 PDU has no PCB string")
		}
		b := make([]byte, v1Size)
		binary.LittleEndian.PutUint32(b[0:], v1Size)
		binary.LittleEndian.PutUint32(b[8:], Version1)
		binary.LittleEndian.PutUint32(b[12:], p.ID)
		return b, nil
	case Version2:
	default:
		return nil, fmt.Errorf("preconnection: version %d", p.Version)
	}
	units := append(utf16.Encode([]rune(p.PCB)), 0)
	if len(units) > MaxPCBChars {
		return nil, fmt.Errorf("preconnection: PCB string of %d characters is too long", len(units))
	}
	for _, u := range units[:len(units)-1] {
		if u == 0 {
			return nil, errors.New("preconnection: PCB string holds a null character")
		}
	}
	b := make([]byte, v1Size+2+2*len(units))
	binary.LittleEndian.PutUint32(b[0:], uint32(len(b)))
	binary.LittleEndian.PutUint32(b[8:], Version2)
	binary.LittleEndian.PutUint32(b[12:], p.ID)
	binary.LittleEndian.PutUint16(b[v1Size:], uint16(len(units)))
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[v1Size+2+2*i:], u)
	}
	return b, nil
}
