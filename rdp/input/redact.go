package input

import (
	"encoding/binary"
	"fmt"

	"github.com/sessionconnector/sessionconnector/rdp/pdu"
)

// Keyboard reports whether e is a key event (scancode or Unicode).
func (e Event) Keyboard() bool { return e.Kind == KindScancode || e.Kind == KindUnicode }

// RedactFastPath returns a fast-path input PDU without its keyboard events, for a recording
// that must not hold keystrokes: pdu itself when it has none, a new PDU of the other events
// (re-encoded, unencrypted) when it has some, and nil when it held nothing but keys. A PDU that
// cannot be decoded is an error: the caller should not keep it either.
func RedactFastPath(b []byte) ([]byte, error) {
	events, err := ParseFastPath(b)
	if err != nil {
		return nil, err
	}
	kept := events[:0:0]
	for _, e := range events {
		if !e.Keyboard() {
			kept = append(kept, e)
		}
	}
	switch {
	case len(kept) == len(events):
		return b, nil
	case len(kept) == 0:
		return nil, nil
	}
	out, err := MarshalFastPath(kept)
	if err != nil {
		return nil, fmt.Errorf("re-encode the input without keys: %w", err)
	}
	return out, nil
}

// RedactSlowPath turns the keyboard events of a slow-path Input PDU (b as ParseSlowPathPDU
// takes it) into INPUT_EVENT_UNUSED events in place, so that no key remains and the PDU keeps
// its length. It returns how many events it blanked; a PDU that is not an Input PDU is an error
// and is left alone.
func RedactSlowPath(b []byte) (int, error) {
	events, err := ParseSlowPathPDU(b)
	if err != nil {
		return 0, err
	}
	p, _, err := pdu.ParseSharePDU(b) // checked by ParseSlowPathPDU; Payload aliases b
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	n := 0
	for i, e := range events {
		if !e.Keyboard() {
			continue
		}
		ev := p.Payload[slowPathHeaderLen+i*slowPathEventLen : slowPathHeaderLen+(i+1)*slowPathEventLen]
		binary.LittleEndian.PutUint16(ev[4:], msgUnused)
		clear(ev[6:])
		n++
	}
	return n, nil
}
