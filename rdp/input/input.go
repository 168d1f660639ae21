// Package input decodes the client's input events, from fast-path input PDUs
// (TS_FP_INPUT_EVENT, MS-RDPBCGR 2.2.8.1.2.2) and from slow-path Input PDUs (TS_INPUT_PDU_DATA
// in a Share Data PDU with pduType2 PDUTYPE2_INPUT, 2.2.8.1.1.3), into one Event type, for a
// recorder's keystroke and pointer log. It also encodes events, so that parsing and marshalling
// can be checked against each other; a proxy relays the original bytes.
//
// Events carry what was on the wire: scancodes (not characters: turning them into text needs the
// keyboard layout and the modifier state, which is left to a later decoder), UTF-16 code units
// of Unicode keyboard events, pointer flags and positions, and toggle-key states.
//
// Every parser checks its bounds and returns errors wrapping ErrMalformed or ErrUnsupported; none
// panics. Keystrokes may contain passwords typed into the remote session: treat decoded events
// as sensitive.
package input

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
)

var (
	// ErrMalformed wraps every parsing error.
	ErrMalformed = errors.New("input: malformed event")
	// ErrInvalid wraps every error about an event that cannot be encoded.
	ErrInvalid = errors.New("input: invalid event")
	// ErrUnsupported wraps errors about input this package cannot decode (an unknown fast-path
	// event code, whose length is unknown, or a compressed or encrypted PDU).
	ErrUnsupported = errors.New("input: unsupported")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Kind is the type of an input event.
type Kind uint8

const (
	// KindScancode is a key press or release by scancode.
	KindScancode Kind = iota + 1
	// KindUnicode is a key press or release by UTF-16 code unit.
	KindUnicode
	// KindMouse is a pointer move, button or wheel event.
	KindMouse
	// KindMouseX is an extended mouse button (X1, X2) event.
	KindMouseX
	// KindRelativeMouse is a relative pointer motion or button event.
	KindRelativeMouse
	// KindSync synchronizes the toggle keys (Scroll, Num, Caps, Kana Lock).
	KindSync
	// KindQoETimestamp is a fast-path quality-of-experience timestamp.
	KindQoETimestamp
	// KindUnused is the slow-path INPUT_EVENT_UNUSED event.
	KindUnused
)

// String returns a short name of the kind.
func (k Kind) String() string {
	switch k {
	case KindScancode:
		return "scancode"
	case KindUnicode:
		return "unicode"
	case KindMouse:
		return "mouse"
	case KindMouseX:
		return "mousex"
	case KindRelativeMouse:
		return "relmouse"
	case KindSync:
		return "sync"
	case KindQoETimestamp:
		return "qoe"
	case KindUnused:
		return "unused"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

// Source is the encoding an event was decoded from.
type Source uint8

const (
	// FastPath events come from fast-path input PDUs.
	FastPath Source = iota + 1
	// SlowPath events come from slow-path Input PDUs.
	SlowPath
)

// Pointer flags (MS-RDPBCGR 2.2.8.1.1.3.1.1.3 and .4).
const (
	PtrFlagsWheelNegative uint16 = 0x0100 // PTRFLAGS_WHEEL_NEGATIVE
	PtrFlagsWheelMask     uint16 = 0x01FF // WheelRotationMask (9-bit two's complement)
	PtrFlagsWheel         uint16 = 0x0200 // PTRFLAGS_WHEEL
	PtrFlagsHWheel        uint16 = 0x0400 // PTRFLAGS_HWHEEL
	PtrFlagsMove          uint16 = 0x0800 // PTRFLAGS_MOVE
	PtrFlagsButton1       uint16 = 0x1000 // PTRFLAGS_BUTTON1 (left)
	PtrFlagsButton2       uint16 = 0x2000 // PTRFLAGS_BUTTON2 (right)
	PtrFlagsButton3       uint16 = 0x4000 // PTRFLAGS_BUTTON3 (middle)
	PtrFlagsDown          uint16 = 0x8000 // PTRFLAGS_DOWN / PTRXFLAGS_DOWN
	PtrXFlagsButton1      uint16 = 0x0001 // PTRXFLAGS_BUTTON1 (X1)
	PtrXFlagsButton2      uint16 = 0x0002 // PTRXFLAGS_BUTTON2 (X2)
)

// Toggle-key flags of synchronize events (TS_SYNC_EVENT toggleFlags, fast-path eventFlags).
const (
	SyncScrollLock uint32 = 0x01 // TS_SYNC_SCROLL_LOCK
	SyncNumLock    uint32 = 0x02 // TS_SYNC_NUM_LOCK
	SyncCapsLock   uint32 = 0x04 // TS_SYNC_CAPS_LOCK
	SyncKanaLock   uint32 = 0x08 // TS_SYNC_KANA_LOCK
)

// Event is one input event from either encoding.
type Event struct {
	Source Source
	Kind   Kind
	// EventTime is the slow-path eventTime (milliseconds, ignored by servers) or the fast-path
	// QoE timestamp; 0 for other fast-path events.
	EventTime uint32

	// Scancode is the key's scancode (8 bits in fast-path, 16 in slow-path).
	Scancode uint16
	// Unicode is the UTF-16 code unit of a Unicode keyboard event; characters outside the BMP
	// arrive as two events with surrogates.
	Unicode rune
	// Released is true for a key release, false for a press.
	Released bool
	// Extended and Extended1 are the KBDFLAGS_EXTENDED (E0 prefix: right Ctrl/Alt, arrows,
	// keypad Enter...) and KBDFLAGS_EXTENDED1 (E1 prefix: Pause) flags.
	Extended, Extended1 bool
	// WasDown is the slow-path KBDFLAGS_DOWN flag: the key was already down (auto-repeat).
	WasDown bool

	// PointerFlags are the pointer flags of mouse events (PtrFlags* values).
	PointerFlags uint16
	// X and Y are the pointer position of KindMouse and KindMouseX events.
	X, Y uint16
	// DX and DY are the motion of KindRelativeMouse events.
	DX, DY int16

	// SyncFlags are the toggle-key states of a KindSync event (Sync* values).
	SyncFlags uint32

	// OtherFlags keeps flag bits the fields above do not represent, in the encoding of Source:
	// the rest of the fast-path eventFlags, or of the slow-path keyboardFlags. They are written
	// back only when encoding to the same Source.
	OtherFlags uint16
}

// Button is a mouse button.
type Button uint8

const (
	// NoButton means the event changes no button.
	NoButton Button = iota
	ButtonLeft
	ButtonRight
	ButtonMiddle
	ButtonX1
	ButtonX2
)

// Button returns the button a mouse event presses or releases, and whether it is pressed.
func (e Event) Button() (b Button, down bool) {
	f := e.PointerFlags
	down = f&PtrFlagsDown != 0
	switch e.Kind {
	case KindMouse, KindRelativeMouse:
		switch {
		case f&PtrFlagsButton1 != 0:
			return ButtonLeft, down
		case f&PtrFlagsButton2 != 0:
			return ButtonRight, down
		case f&PtrFlagsButton3 != 0:
			return ButtonMiddle, down
		}
		if e.Kind == KindMouse {
			return NoButton, false
		}
		fallthrough
	case KindMouseX:
		switch {
		case f&PtrXFlagsButton1 != 0:
			return ButtonX1, down
		case f&PtrXFlagsButton2 != 0:
			return ButtonX2, down
		}
	}
	return NoButton, false
}

// Moved reports whether a mouse event moves the pointer (PTRFLAGS_MOVE).
func (e Event) Moved() bool {
	return (e.Kind == KindMouse || e.Kind == KindRelativeMouse) && e.PointerFlags&PtrFlagsMove != 0
}

// Wheel returns the rotation of a wheel event (positive away from the user or to the right)
// and whether the wheel is horizontal; ok is false for other events.
func (e Event) Wheel() (delta int, horizontal, ok bool) {
	if e.Kind != KindMouse || e.PointerFlags&(PtrFlagsWheel|PtrFlagsHWheel) == 0 {
		return 0, false, false
	}
	delta = int(e.PointerFlags & PtrFlagsWheelMask)
	if e.PointerFlags&PtrFlagsWheelNegative != 0 {
		delta -= 0x200
	}
	return delta, e.PointerFlags&PtrFlagsHWheel != 0, true
}

// Fast-path event codes and keyboard flags (MS-RDPBCGR 2.2.8.1.2.2).
const (
	fpScancode = 0x0 // FASTPATH_INPUT_EVENT_SCANCODE
	fpMouse    = 0x1 // FASTPATH_INPUT_EVENT_MOUSE
	fpMouseX   = 0x2 // FASTPATH_INPUT_EVENT_MOUSEX
	fpSync     = 0x3 // FASTPATH_INPUT_EVENT_SYNC
	fpUnicode  = 0x4 // FASTPATH_INPUT_EVENT_UNICODE
	fpQoE      = 0x6 // FASTPATH_INPUT_EVENT_QOE_TIMESTAMP
	fpRelMouse = 0x7 // FASTPATH_INPUT_EVENT_RELMOUSE

	fpKbdRelease   = 0x01 // FASTPATH_INPUT_KBDFLAGS_RELEASE
	fpKbdExtended  = 0x02 // FASTPATH_INPUT_KBDFLAGS_EXTENDED
	fpKbdExtended1 = 0x04 // FASTPATH_INPUT_KBDFLAGS_EXTENDED1
	fpFlagsMask    = 0x1F
)

// ParseFastPath decodes the events of a whole fast-path input PDU.
func ParseFastPath(b []byte) ([]Event, error) {
	p, err := fastpath.ParseInput(b)
	if err != nil {
		if errors.Is(err, fastpath.ErrUnsupported) {
			return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return DecodeFastPathEvents(p.NumEvents, p.Events)
}

// DecodeFastPathEvents decodes numEvents fast-path events that must fill b exactly.
func DecodeFastPathEvents(numEvents int, b []byte) ([]Event, error) {
	if numEvents < 0 || numEvents > len(b) {
		// Each event takes at least one byte: this bounds the allocation by the input.
		return nil, malformed("%d fast-path events cannot fit in %d bytes", numEvents, len(b))
	}
	events := make([]Event, 0, numEvents)
	for i := range numEvents {
		e, n, err := decodeFastPathEvent(b)
		if err != nil {
			return nil, fmt.Errorf("fast-path event %d: %w", i, err)
		}
		events = append(events, e)
		b = b[n:]
	}
	if len(b) != 0 {
		return nil, malformed("%d bytes after %d fast-path events", len(b), numEvents)
	}
	return events, nil
}

// fastPathSize returns the bytes after the eventHeader of each fast-path event code.
func fastPathSize(code byte) (int, bool) {
	switch code {
	case fpScancode:
		return 1, true
	case fpMouse, fpMouseX, fpRelMouse:
		return 6, true
	case fpSync:
		return 0, true
	case fpUnicode:
		return 2, true
	case fpQoE:
		return 4, true
	}
	return 0, false
}

func decodeFastPathEvent(b []byte) (Event, int, error) {
	if len(b) == 0 {
		return Event{}, 0, malformed("eventHeader missing")
	}
	flags, code := b[0]&fpFlagsMask, b[0]>>5
	size, ok := fastPathSize(code)
	if !ok {
		return Event{}, 0, fmt.Errorf("%w: fast-path event code %d", ErrUnsupported, code)
	}
	if len(b) < 1+size {
		return Event{}, 0, malformed("event code %d needs %d bytes, %d left", code, 1+size, len(b))
	}
	d := b[1 : 1+size]
	e := Event{Source: FastPath}
	switch code {
	case fpScancode, fpUnicode:
		e.Released = flags&fpKbdRelease != 0
		e.Extended = flags&fpKbdExtended != 0
		e.Extended1 = flags&fpKbdExtended1 != 0
		e.OtherFlags = uint16(flags &^ (fpKbdRelease | fpKbdExtended | fpKbdExtended1))
		if code == fpScancode {
			e.Kind, e.Scancode = KindScancode, uint16(d[0])
		} else {
			e.Kind, e.Unicode = KindUnicode, rune(binary.LittleEndian.Uint16(d))
		}
	case fpMouse, fpMouseX, fpRelMouse:
		e.Kind = KindMouse
		switch code {
		case fpMouseX:
			e.Kind = KindMouseX
		case fpRelMouse:
			e.Kind = KindRelativeMouse
		}
		e.PointerFlags = binary.LittleEndian.Uint16(d[0:2])
		x, y := binary.LittleEndian.Uint16(d[2:4]), binary.LittleEndian.Uint16(d[4:6])
		if code == fpRelMouse {
			e.DX, e.DY = int16(x), int16(y)
		} else {
			e.X, e.Y = x, y
		}
		e.OtherFlags = uint16(flags)
	case fpSync:
		e.Kind, e.SyncFlags = KindSync, uint32(flags)
	case fpQoE:
		e.Kind, e.EventTime = KindQoETimestamp, binary.LittleEndian.Uint32(d)
		e.OtherFlags = uint16(flags)
	}
	return e, 1 + size, nil
}

// AppendFastPathEvent encodes e as a TS_FP_INPUT_EVENT. Fields fast-path cannot carry are
// refused (a scancode above 0xFF, toggle flags above 0x1F) or dropped (WasDown, EventTime of
// non-QoE events, OtherFlags of slow-path events).
func AppendFastPathEvent(dst []byte, e Event) ([]byte, error) {
	var other byte
	if e.Source == FastPath {
		if e.OtherFlags > fpFlagsMask {
			return dst, invalid("fast-path event flags 0x%x do not fit 5 bits", e.OtherFlags)
		}
		other = byte(e.OtherFlags)
	}
	kbd := other
	if e.Released {
		kbd |= fpKbdRelease
	}
	if e.Extended {
		kbd |= fpKbdExtended
	}
	if e.Extended1 {
		kbd |= fpKbdExtended1
	}
	switch e.Kind {
	case KindScancode:
		if e.Scancode > 0xFF {
			return dst, invalid("scancode 0x%x does not fit a fast-path event", e.Scancode)
		}
		return append(dst, fpScancode<<5|kbd, byte(e.Scancode)), nil
	case KindUnicode:
		if e.Unicode < 0 || e.Unicode > 0xFFFF {
			return dst, invalid("unicode event with U+%X, not a UTF-16 code unit", e.Unicode)
		}
		return binary.LittleEndian.AppendUint16(append(dst, fpUnicode<<5|kbd), uint16(e.Unicode)), nil
	case KindMouse, KindMouseX, KindRelativeMouse:
		code := byte(fpMouse)
		switch e.Kind {
		case KindMouseX:
			code = fpMouseX
		case KindRelativeMouse:
			code = fpRelMouse
		}
		dst = append(dst, code<<5|other)
		dst = binary.LittleEndian.AppendUint16(dst, e.PointerFlags)
		if e.Kind == KindRelativeMouse {
			dst = binary.LittleEndian.AppendUint16(dst, uint16(e.DX))
			return binary.LittleEndian.AppendUint16(dst, uint16(e.DY)), nil
		}
		dst = binary.LittleEndian.AppendUint16(dst, e.X)
		return binary.LittleEndian.AppendUint16(dst, e.Y), nil
	case KindSync:
		if e.SyncFlags > fpFlagsMask {
			return dst, invalid("toggle flags 0x%x do not fit a fast-path event", e.SyncFlags)
		}
		return append(dst, fpSync<<5|byte(e.SyncFlags)), nil
	case KindQoETimestamp:
		return binary.LittleEndian.AppendUint32(append(dst, fpQoE<<5|other), e.EventTime), nil
	default:
		return dst, invalid("%s events have no fast-path encoding", e.Kind)
	}
}

// MarshalFastPath encodes events as a fast-path input PDU (unencrypted, 2-byte length, as
// FreeRDP sends them).
func MarshalFastPath(events []Event) ([]byte, error) {
	if len(events) == 0 || len(events) > fastpath.MaxInputEvents {
		return nil, invalid("%d events in one fast-path input PDU", len(events))
	}
	var b []byte
	for i, e := range events {
		var err error
		if b, err = AppendFastPathEvent(b, e); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	p := &fastpath.InputPDU{NumEvents: len(events), CountByte: len(events) > 15, LongLength: true, Events: b}
	out, err := p.Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return out, nil
}

// Slow-path message types and keyboard flags (MS-RDPBCGR 2.2.8.1.1.3.1.1).
const (
	msgSync     = 0x0000 // INPUT_EVENT_SYNC
	msgUnused   = 0x0002 // INPUT_EVENT_UNUSED
	msgScancode = 0x0004 // INPUT_EVENT_SCANCODE
	msgUnicode  = 0x0005 // INPUT_EVENT_UNICODE
	msgMouse    = 0x8001 // INPUT_EVENT_MOUSE
	msgMouseX   = 0x8002 // INPUT_EVENT_MOUSEX
	msgMouseRel = 0x8004 // INPUT_EVENT_MOUSEREL

	KbdFlagsExtended  uint16 = 0x0100 // KBDFLAGS_EXTENDED
	KbdFlagsExtended1 uint16 = 0x0200 // KBDFLAGS_EXTENDED1
	KbdFlagsDown      uint16 = 0x4000 // KBDFLAGS_DOWN
	KbdFlagsRelease   uint16 = 0x8000 // KBDFLAGS_RELEASE

	slowPathEventLen  = 12
	slowPathHeaderLen = 4
)

// ParseSlowPathPDU decodes the events of a slow-path Input PDU: the user data of an MCS Send
// Data Request on the I/O channel, starting with the Share Control Header, with pduType2
// PDUTYPE2_INPUT.
func ParseSlowPathPDU(b []byte) ([]Event, error) {
	p, rest, err := pdu.ParseSharePDU(b)
	if err != nil {
		if errors.Is(err, pdu.ErrUnsupported) {
			return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	switch {
	case len(rest) != 0:
		return nil, malformed("%d bytes after the input PDU", len(rest))
	case p.Data == nil || p.Data.PDUType2 != pdu.PDUType2Input:
		return nil, malformed("%s is not an Input PDU", p.Name())
	case p.Data.Compressed():
		return nil, fmt.Errorf("%w: bulk-compressed Input PDU", ErrUnsupported)
	}
	return ParseSlowPath(p.Payload)
}

// ParseSlowPath decodes TS_INPUT_PDU_DATA (the payload after the Share Data Header). Bytes after
// the announced events are ignored.
func ParseSlowPath(b []byte) ([]Event, error) {
	if len(b) < slowPathHeaderLen {
		return nil, malformed("input PDU data needs %d bytes, have %d", slowPathHeaderLen, len(b))
	}
	n := int(binary.LittleEndian.Uint16(b))
	b = b[slowPathHeaderLen:]
	if n > len(b)/slowPathEventLen {
		return nil, malformed("%d slow-path events need %d bytes, have %d", n, n*slowPathEventLen, len(b))
	}
	events := make([]Event, 0, n)
	for i := range n {
		e, err := decodeSlowPathEvent(b[i*slowPathEventLen : (i+1)*slowPathEventLen])
		if err != nil {
			return nil, fmt.Errorf("slow-path event %d: %w", i, err)
		}
		events = append(events, e)
	}
	return events, nil
}

func decodeSlowPathEvent(b []byte) (Event, error) {
	e := Event{Source: SlowPath, EventTime: binary.LittleEndian.Uint32(b[0:4])}
	msg := binary.LittleEndian.Uint16(b[4:6])
	f, v1, v2 := binary.LittleEndian.Uint16(b[6:8]), binary.LittleEndian.Uint16(b[8:10]), binary.LittleEndian.Uint16(b[10:12])
	switch msg {
	case msgSync:
		e.Kind, e.SyncFlags = KindSync, binary.LittleEndian.Uint32(b[8:12])
	case msgUnused:
		e.Kind = KindUnused
	case msgScancode, msgUnicode:
		e.Released = f&KbdFlagsRelease != 0
		e.Extended = f&KbdFlagsExtended != 0
		e.Extended1 = f&KbdFlagsExtended1 != 0
		e.WasDown = f&KbdFlagsDown != 0
		e.OtherFlags = f &^ (KbdFlagsRelease | KbdFlagsExtended | KbdFlagsExtended1 | KbdFlagsDown)
		if msg == msgScancode {
			e.Kind, e.Scancode = KindScancode, v1
		} else {
			e.Kind, e.Unicode = KindUnicode, rune(v1)
		}
	case msgMouse, msgMouseX:
		e.Kind, e.PointerFlags, e.X, e.Y = KindMouse, f, v1, v2
		if msg == msgMouseX {
			e.Kind = KindMouseX
		}
	case msgMouseRel:
		e.Kind, e.PointerFlags, e.DX, e.DY = KindRelativeMouse, f, int16(v1), int16(v2)
	default:
		return Event{}, fmt.Errorf("%w: slow-path message type 0x%04x", ErrUnsupported, msg)
	}
	return e, nil
}

// AppendSlowPathEvent encodes e as a 12-byte TS_INPUT_EVENT, with zero padding. QoE timestamps
// have no slow-path encoding.
func AppendSlowPathEvent(dst []byte, e Event) ([]byte, error) {
	var f uint16
	if e.Source == SlowPath {
		f = e.OtherFlags
	}
	var msg, v1, v2 uint16
	switch e.Kind {
	case KindSync:
		dst = binary.LittleEndian.AppendUint32(dst, e.EventTime)
		dst = binary.LittleEndian.AppendUint16(dst, msgSync)
		dst = binary.LittleEndian.AppendUint16(dst, 0)
		return binary.LittleEndian.AppendUint32(dst, e.SyncFlags), nil
	case KindUnused:
		msg, f = msgUnused, 0
	case KindScancode, KindUnicode:
		for _, b := range []struct {
			on   bool
			flag uint16
		}{{e.Released, KbdFlagsRelease}, {e.Extended, KbdFlagsExtended}, {e.Extended1, KbdFlagsExtended1}, {e.WasDown, KbdFlagsDown}} {
			if b.on {
				f |= b.flag
			}
		}
		msg, v1 = msgScancode, e.Scancode
		if e.Kind == KindUnicode {
			if e.Unicode < 0 || e.Unicode > 0xFFFF {
				return dst, invalid("unicode event with U+%X, not a UTF-16 code unit", e.Unicode)
			}
			msg, v1 = msgUnicode, uint16(e.Unicode)
		}
	case KindMouse, KindMouseX:
		msg, f, v1, v2 = msgMouse, e.PointerFlags, e.X, e.Y
		if e.Kind == KindMouseX {
			msg = msgMouseX
		}
	case KindRelativeMouse:
		msg, f, v1, v2 = msgMouseRel, e.PointerFlags, uint16(e.DX), uint16(e.DY)
	default:
		return dst, invalid("%s events have no slow-path encoding", e.Kind)
	}
	dst = binary.LittleEndian.AppendUint32(dst, e.EventTime)
	dst = binary.LittleEndian.AppendUint16(dst, msg)
	dst = binary.LittleEndian.AppendUint16(dst, f)
	dst = binary.LittleEndian.AppendUint16(dst, v1)
	return binary.LittleEndian.AppendUint16(dst, v2), nil
}

// MarshalSlowPath encodes events as TS_INPUT_PDU_DATA (numEvents, padding, events), the payload
// of a Share Data PDU with pduType2 PDUTYPE2_INPUT.
func MarshalSlowPath(events []Event) ([]byte, error) {
	if len(events) > 0xFFFF {
		return nil, invalid("%d events in one input PDU", len(events))
	}
	b := make([]byte, 0, slowPathHeaderLen+slowPathEventLen*len(events))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(events)))
	b = binary.LittleEndian.AppendUint16(b, 0)
	for i, e := range events {
		var err error
		if b, err = AppendSlowPathEvent(b, e); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	return b, nil
}
