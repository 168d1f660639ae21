package input

import (
	"bytes"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/pdu"
)

var (
	keyA  = Event{Kind: KindScancode, Scancode: 0x1E}
	keyX  = Event{Kind: KindUnicode, Unicode: 'x'}
	mouse = Event{Kind: KindMouse, PointerFlags: PtrFlagsMove, X: 10, Y: 20}
)

func withSource(s Source, events ...Event) []Event {
	out := make([]Event, len(events))
	for i, e := range events {
		e.Source = s
		out[i] = e
	}
	return out
}

func TestRedactFastPath(t *testing.T) {
	enc := func(events ...Event) []byte {
		t.Helper()
		b, err := MarshalFastPath(withSource(FastPath, events...))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mouseOnly := enc(mouse)
	if out, err := RedactFastPath(mouseOnly); err != nil || !bytes.Equal(out, mouseOnly) {
		t.Fatalf("input without keys changed: %x, %v", out, err)
	}
	if out, err := RedactFastPath(enc(keyA, keyX)); err != nil || out != nil {
		t.Fatalf("keys only: %x, %v", out, err)
	}
	out, err := RedactFastPath(enc(keyA, mouse, keyX))
	if err != nil {
		t.Fatal(err)
	}
	events, err := ParseFastPath(out)
	if err != nil || len(events) != 1 || events[0].X != 10 || events[0].Y != 20 {
		t.Fatalf("mixed input redacted to %+v, %v", events, err)
	}
	if _, err := RedactFastPath([]byte{0x00, 0xFF}); err == nil {
		t.Fatal("a malformed PDU was accepted")
	}
}

func TestRedactSlowPath(t *testing.T) {
	data, err := MarshalSlowPath(withSource(SlowPath, keyA, mouse, keyX))
	if err != nil {
		t.Fatal(err)
	}
	sp := &pdu.SharePDU{
		Control: pdu.ShareControlHeader{PDUType: pdu.ProtocolVersion | uint16(pdu.PDUTypeData), PDUSource: 1007},
		Data:    &pdu.ShareDataHeader{ShareID: 0x103EA, StreamID: 1, PDUType2: pdu.PDUType2Input},
		Payload: data,
	}
	b, err := sp.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	size := len(b)
	n, err := RedactSlowPath(b)
	if err != nil || n != 2 || len(b) != size {
		t.Fatalf("blanked %d, %v (length %d of %d)", n, err, len(b), size)
	}
	events, err := ParseSlowPathPDU(b)
	if err != nil || len(events) != 3 || events[0].Kind != KindUnused || events[1].Kind != KindMouse || events[1].X != 10 || events[2].Kind != KindUnused {
		t.Fatalf("redacted events %+v, %v", events, err)
	}
	if bytes.Contains(b, []byte{0x1E, 0x00}) && events[0].Scancode != 0 {
		t.Fatal("the scancode is still there")
	}
	notInput, _ := (&pdu.SharePDU{Control: sp.Control, Data: &pdu.ShareDataHeader{PDUType2: pdu.PDUType2Synchronize}, Payload: []byte{1, 0, 0, 0}}).Append(nil)
	if _, err := RedactSlowPath(notInput); err == nil {
		t.Fatal("a Synchronize PDU was taken for input")
	}
}
