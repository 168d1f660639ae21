package pdu

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sessionconnector/sessionconnector/test/captures"
)

func capNames(cs CapabilitySets) string {
	var names []string
	for _, s := range cs {
		names = append(names, CapsTypeName(s.Type))
	}
	return strings.Join(names, " ")
}

func TestGoldenDemandActive(t *testing.T) {
	tests := map[string]struct {
		source string
		caps   string
	}{
		"freerdp-xrdp-tls": {source: "RDP\x00",
			caps: "Share General Bitmap Font Order BitmapCodecs ColorCache Pointer Input BitmapCacheV3CodecID MultifragmentUpdate FrameAcknowledge SurfaceCommands"},
		"freerdp-shadow-nla": {source: "RDP\x00",
			caps: "General Bitmap Order Pointer Input VirtualChannel Share Font MultifragmentUpdate LargePointer CompDesk SurfaceCommands BitmapCodecs FrameAcknowledge"},
	}
	for _, name := range captures.Names {
		t.Run(name, func(t *testing.T) {
			in := readGolden(t, name+".demandactive.bin")
			d, err := ParseDemandActive(in)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			t.Logf("shareId 0x%08x source %q sessionId %v/%d; %d sets: %s", d.ShareID, d.SourceDescriptor,
				d.HasSessionID, d.SessionID, len(d.Capabilities), capNames(d.Capabilities))
			if tc, ok := tests[name]; ok {
				if string(d.SourceDescriptor) != tc.source {
					t.Errorf("source descriptor %q", d.SourceDescriptor)
				}
				if tc.caps != "" && capNames(d.Capabilities) != tc.caps {
					t.Errorf("capability sets %s\nwant %s", capNames(d.Capabilities), tc.caps)
				}
			}
			if d.Control.Type() != PDUTypeDemandActive || d.Control.PDUType&0xFFF0 != ProtocolVersion || !d.HasSessionID {
				t.Errorf("header %+v, session id %t", d.Control, d.HasSessionID)
			}
			checkTypedHelpers(t, d.Capabilities, true)
			if s, ok := d.Capabilities.Get(CapsTypeBitmapCodecs); ok {
				c, err := ParseBitmapCodecsCapability(s.Data)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, cd := range c.Codecs {
					names = append(names, fmt.Sprintf("%s(id %d, %d property bytes)", cd.Name(), cd.ID, len(cd.Properties)))
				}
				t.Logf("server codecs: %s", strings.Join(names, ", "))
			}
			if s, ok := d.Capabilities.Get(CapsTypeGeneral); ok {
				g, err := ParseGeneralCapability(s.Data)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("server general: extraFlags 0x%04x (fast-path output %t)", g.ExtraFlags, g.ExtraFlags&FastPathOutputSupported != 0)
			}
			out, err := d.Marshal()
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("re-marshal: %v\n%s\nwant\n%s", err, hex.Dump(out), hex.Dump(in))
			}
		})
	}
}

func TestGoldenConfirmActive(t *testing.T) {
	for _, name := range captures.Names {
		t.Run(name, func(t *testing.T) {
			in := readGolden(t, name+".confirmactive.bin")
			c, err := ParseConfirmActive(in)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			t.Logf("shareId 0x%08x originator %d source %q; %d sets: %s", c.ShareID, c.OriginatorID,
				c.SourceDescriptor, len(c.Capabilities), capNames(c.Capabilities))
			if string(c.SourceDescriptor) != "FREERDP\x00" || c.OriginatorID != 0x03EA || len(c.Trailing) != 0 {
				t.Errorf("source %q originator 0x%x trailing %d", c.SourceDescriptor, c.OriginatorID, len(c.Trailing))
			}
			checkTypedHelpers(t, c.Capabilities, true)
			out, err := c.Marshal()
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("re-marshal: %v\n%s\nwant\n%s", err, hex.Dump(out), hex.Dump(in))
			}

			// What FreeRDP 2.11 offers that a recorder cannot decode alone.
			before := c.Capabilities
			order := mustGet(t, before, CapsTypeOrder)
			o, err := ParseOrderCapability(order.Data)
			if err != nil || !o.OrdersEnabled() {
				t.Fatalf("order set: %v, orders enabled %t", err, o.OrdersEnabled())
			}
			codecs, err := ParseBitmapCodecsCapability(mustGet(t, before, CapsTypeBitmapCodecs).Data)
			if err != nil || len(codecs.Codecs) == 0 {
				t.Fatalf("bitmap codecs: %v, %d", err, len(codecs.Codecs))
			}
			var codecNames []string
			for _, cd := range codecs.Codecs {
				codecNames = append(codecNames, cd.Name())
			}
			surf, err := ParseSurfaceCommandsCapability(mustGet(t, before, CapsTypeSurfaceCommands).Data)
			if err != nil || surf.CmdFlags == 0 {
				t.Fatalf("surface commands: %v, 0x%x", err, surf.CmdFlags)
			}
			t.Logf("before: orderSupport % x, orderFlags 0x%04x, ex 0x%04x; codecs %v; cmdFlags 0x%x",
				o.OrderSupport, o.OrderFlags, o.OrderSupportExFlags, codecNames, surf.CmdFlags)

			ch, err := c.RestrictForRecording()
			if err != nil {
				t.Fatalf("restrict: %v", err)
			}
			t.Logf("changes: %+v", ch)
			if !ch.Changed() || !ch.OrdersDisabled || ch.BitmapCodecsRemoved != len(codecs.Codecs) || !ch.SurfaceCommandsDisabled {
				t.Errorf("changes = %+v", ch)
			}
			// The parsed input is untouched.
			if again, _ := ParseConfirmActive(in); !reflect.DeepEqual(again.Capabilities, before) {
				t.Errorf("RestrictForRecording modified the sets it was given")
			}
			out, err = c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseConfirmActive(out)
			if err != nil {
				t.Fatalf("re-parse rewritten: %v", err)
			}
			if !slices.Equal(r.Capabilities.Types(), before.Types()) {
				t.Errorf("set order changed: %s", capNames(r.Capabilities))
			}
			ro, _ := ParseOrderCapability(mustGet(t, r.Capabilities, CapsTypeOrder).Data)
			if ro.OrdersEnabled() || ro.OrderFlags != o.OrderFlags || ro.TerminalDescriptor != o.TerminalDescriptor {
				t.Errorf("order set after rewrite: %+v", ro)
			}
			if got := mustGet(t, r.Capabilities, CapsTypeBitmapCodecs).Data; !bytes.Equal(got, []byte{0}) {
				t.Errorf("bitmap codecs after rewrite: % x", got)
			}
			rs, _ := ParseSurfaceCommandsCapability(mustGet(t, r.Capabilities, CapsTypeSurfaceCommands).Data)
			if rs.CmdFlags != 0 {
				t.Errorf("cmdFlags after rewrite: 0x%x", rs.CmdFlags)
			}
			for i, s := range r.Capabilities {
				switch s.Type {
				case CapsTypeOrder, CapsTypeBitmapCodecs, CapsTypeSurfaceCommands, CapsTypeGlyphCache,
					CapsTypeOffscreenCache, CapsTypeDrawNineGridCache, CapsTypeDrawGDIPlus:
				default:
					if !reflect.DeepEqual(s, before[i]) {
						t.Errorf("set %s changed", CapsTypeName(s.Type))
					}
				}
			}
			wantLen := len(in) - 16*len(codecs.Codecs) - 3*len(codecs.Codecs) - totalProps(codecs)
			if int(r.Control.TotalLength) != wantLen || len(out) != wantLen {
				t.Errorf("totalLength %d, %d bytes, want %d", r.Control.TotalLength, len(out), wantLen)
			}
			// A second pass changes nothing.
			if ch, err := r.RestrictForRecording(); err != nil || ch.Changed() {
				t.Errorf("second pass: %+v, %v", ch, err)
			}
		})
	}
}

func TestBitmapCodecName(t *testing.T) {
	c := BitmapCodec{GUID: [16]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10}}
	if got := c.Name(); got != "04030201-0605-0807-090A-0B0C0D0E0F10" {
		t.Errorf("Name() = %s", got)
	}
	copy(c.GUID[:], CodecGUIDNSCodec)
	if c.Name() != "NSCodec" {
		t.Errorf("Name() = %s", c.Name())
	}
}

func totalProps(c *BitmapCodecsCapability) int {
	n := 0
	for _, cd := range c.Codecs {
		n += len(cd.Properties)
	}
	return n
}

func mustGet(t *testing.T, cs CapabilitySets, typ uint16) CapabilitySet {
	t.Helper()
	s, ok := cs.Get(typ)
	if !ok {
		t.Fatalf("no %s capability set", CapsTypeName(typ))
	}
	return s
}

func TestRestrictForRecordingSupportLevels(t *testing.T) {
	glyph := make([]byte, 48)
	glyph[44] = 3 // GLYPH_SUPPORT_ENCODE
	cs := CapabilitySets{
		{Type: CapsTypeGlyphCache, Data: glyph},
		{Type: CapsTypeOffscreenCache, Data: []byte{1, 0, 0, 0, 0, 0x1E, 0x64, 0}},
		{Type: CapsTypeDrawNineGridCache, Data: []byte{2, 0, 0, 0, 0, 0, 0, 0}},
		{Type: CapsTypeDrawGDIPlus, Data: make([]byte, 36)},
		{Type: 0x7777, Data: []byte{9}},
	}
	orig := slices.Clone(cs)
	ch, err := cs.RestrictForRecording()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ch.SupportLevelsCleared, []string{"GlyphCache", "OffscreenCache", "DrawNineGridCache"}) {
		t.Errorf("cleared %v", ch.SupportLevelsCleared)
	}
	if cs[0].Data[44] != 0 || cs[1].Data[0] != 0 || cs[1].Data[5] != 0x1E || cs[2].Data[0] != 0 || !reflect.DeepEqual(cs[4], orig[4]) {
		t.Errorf("sets after rewrite: %+v", cs)
	}
	if glyph[44] != 3 {
		t.Errorf("the input's data was modified")
	}
	short := CapabilitySets{{Type: CapsTypeOrder, Data: make([]byte, 10)}, {Type: CapsTypeSurfaceCommands, Data: []byte{1, 0, 0, 0, 0, 0, 0, 0}}}
	if _, err := short.RestrictForRecording(); !errors.Is(err, ErrMalformed) {
		t.Errorf("short order set: %v", err)
	}
	if short[1].Data[0] != 1 {
		t.Errorf("sets changed although RestrictForRecording failed")
	}
}

func TestCapabilitySetsEdit(t *testing.T) {
	cs := CapabilitySets{{Type: 1, Data: []byte{1}}, {Type: 2}, {Type: 1, Data: []byte{2}}}
	cs.Put(CapabilitySet{Type: 2, Data: []byte{7}})
	cs.Put(CapabilitySet{Type: 3})
	if n := cs.Remove(1); n != 2 || !slices.Equal(cs.Types(), []uint16{2, 3}) || cs[0].Data[0] != 7 {
		t.Fatalf("after edits: %d %+v", n, cs)
	}
	if cs.Index(9) != -1 {
		t.Fatal("found a missing type")
	}
}

// activeBody builds a Demand Active by hand.
func buildDemandActive(caps []byte, numCaps uint16, tail []byte) []byte {
	body := le32(nil, 0x000103EA)
	body = le16(body, 4)
	body = le16(body, uint16(4+len(caps)))
	body = append(body, "RDP\x00"...)
	body = le16(le16(body, numCaps), 0)
	body = append(body, caps...)
	body = append(body, tail...)
	return append(le16(le16(le16(nil, uint16(6+len(body))), 0x11), 0x3EA), body...)
}

func TestParseDemandActiveCases(t *testing.T) {
	set := []byte{0x7F, 0x00, 0x06, 0x00, 0xAA, 0xBB}
	tests := map[string]struct {
		in      []byte
		wantErr error
		check   func(*testing.T, *DemandActive)
	}{
		"no session id": {in: buildDemandActive(set, 1, nil), check: func(t *testing.T, d *DemandActive) {
			if d.HasSessionID || len(d.Trailing) != 0 || len(d.Capabilities) != 1 {
				t.Errorf("%+v", d)
			}
		}},
		"short trailing": {in: buildDemandActive(set, 1, []byte{1, 2}), check: func(t *testing.T, d *DemandActive) {
			if d.HasSessionID || len(d.Trailing) != 2 {
				t.Errorf("%+v", d)
			}
		}},
		"session id and trailing": {in: buildDemandActive(set, 1, []byte{5, 0, 0, 0, 9}), check: func(t *testing.T, d *DemandActive) {
			if !d.HasSessionID || d.SessionID != 5 || !bytes.Equal(d.Trailing, []byte{9}) {
				t.Errorf("%+v", d)
			}
		}},
		"count too high":        {in: buildDemandActive(set, 2, nil), wantErr: ErrMalformed},
		"count too low":         {in: buildDemandActive(set, 0, nil), wantErr: ErrMalformed},
		"huge count":            {in: buildDemandActive(set, 0xFFFF, nil), wantErr: ErrMalformed},
		"set length below 4":    {in: buildDemandActive([]byte{1, 0, 3, 0, 0, 0}, 1, nil), wantErr: ErrMalformed},
		"set length past end":   {in: buildDemandActive([]byte{1, 0, 9, 0, 0, 0}, 1, nil), wantErr: ErrMalformed},
		"wrong type":            {in: func() []byte { b := buildDemandActive(set, 1, nil); b[2] = 0x13; return b }(), wantErr: ErrMalformed},
		"bytes after the PDU":   {in: append(buildDemandActive(set, 1, nil), 0), wantErr: ErrMalformed},
		"totalLength past end":  {in: buildDemandActive(set, 1, nil)[:20], wantErr: ErrMalformed},
		"flow control PDU":      {in: []byte{0x00, 0x80, 0, 0x41, 0, 0, 0, 0}, wantErr: ErrUnsupported},
		"combined length below": {in: func() []byte { b := buildDemandActive(nil, 0, nil); b[12] = 3; return b }(), wantErr: ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := ParseDemandActive(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
			out, err := d.Marshal()
			if err != nil || !bytes.Equal(out, tc.in) {
				t.Fatalf("re-marshal: %v\n% x\nwant\n% x", err, out, tc.in)
			}
		})
	}
}

func TestActiveEveryPrefix(t *testing.T) {
	for _, name := range captures.Names {
		for _, kind := range []string{"demandactive", "confirmactive"} {
			in := readGolden(t, name+"."+kind+".bin")
			for n := range len(in) {
				var err error
				if kind == "demandactive" {
					_, err = ParseDemandActive(in[:n])
				} else {
					_, err = ParseConfirmActive(in[:n])
				}
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s %s prefix %d: %v", name, kind, n, err)
				}
			}
		}
	}
}

func TestMarshalActiveInvalid(t *testing.T) {
	d := &DemandActive{Control: ShareControlHeader{PDUType: uint16(PDUTypeDemandActive)}, Trailing: []byte{1, 2, 3, 4}}
	if _, err := d.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("trailing bytes without session id: %v", err)
	}
	c := &ConfirmActive{Control: ShareControlHeader{PDUType: uint16(PDUTypeDemandActive)}}
	if _, err := c.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("wrong PDU type: %v", err)
	}
	c = &ConfirmActive{Control: ShareControlHeader{PDUType: uint16(PDUTypeConfirmActive)},
		Capabilities: CapabilitySets{{Type: 1, Data: make([]byte, 0xFFFC)}}}
	if _, err := c.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized set: %v", err)
	}
	var nilC *ConfirmActive
	if _, err := nilC.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil: %v", err)
	}
}

func TestDeactivateAll(t *testing.T) {
	tests := map[string][]byte{
		"windows xp short form": {0x04, 0x00, 0x16, 0x00},
		"empty with source":     {0x06, 0x00, 0x16, 0x00, 0xEA, 0x03},
		"full":                  {0x0F, 0x00, 0x16, 0x00, 0xEA, 0x03, 0xEA, 0x03, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			d, err := ParseDeactivateAll(in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.Marshal()
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("re-marshal %v: % x", err, out)
			}
		})
	}
	if _, err := ParseDeactivateAll([]byte{0x0A, 0x00, 0x16, 0x00, 0xEA, 0x03, 1, 0, 0, 0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("cut source descriptor length: %v", err)
	}
}
