package pdu

import (
	"bytes"
	"reflect"
	"testing"
)

// The seeds in testdata/fuzz/<target> are PDUs extracted from the captures (see
// TestCaptureSessions); the f.Add calls cover small hand-made cases.

func FuzzParseClientInfo(f *testing.F) {
	f.Add([]byte{0x40, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		sec, ci, err := ParseClientInfoPDU(in)
		if err != nil {
			return
		}
		_ = ci.String()
		out, err := ci.MarshalPDU(sec)
		if err != nil {
			t.Fatalf("marshal of a parsed packet: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-marshalled\n% x\nwant\n% x", out, in)
		}
		_, again, err := ParseClientInfoPDU(out)
		if err != nil || !again.Equal(ci) {
			t.Fatalf("re-parse: %v", err)
		}
		// The proxy's rewrite must always produce a packet that parses back.
		if err := again.SetUserName("svc"); err != nil {
			t.Fatal(err)
		}
		if err := again.SetPassword("pw"); err != nil {
			t.Fatal(err)
		}
		again.SetAutologon(true)
		again.DisableCompression()
		if again.Flags&InfoUnicode == 0 {
			// Characters parsed as ANSI always fit 8 bits.
			_ = again.SetDomain("")
		}
		out, err = again.MarshalPDU(sec)
		if err != nil {
			t.Fatalf("marshal rewritten: %v", err)
		}
		_, re, err := ParseClientInfoPDU(out)
		if err != nil || !re.Equal(again) || re.UserName() != "svc" || !re.PasswordEqual("pw") {
			t.Fatalf("re-parse rewritten: %v", err)
		}
		re.ZeroPassword()
		if re.HasPassword() {
			t.Fatal("password left after ZeroPassword")
		}
	})
}

func FuzzParseDemandActive(f *testing.F) {
	f.Add(buildDemandActive([]byte{1, 0, 4, 0}, 1, []byte{0, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := ParseDemandActive(in)
		if err != nil {
			return
		}
		out, err := d.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed PDU: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-marshalled\n% x\nwant\n% x", out, in)
		}
		again, err := ParseDemandActive(out)
		if err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("re-parse: %v", err)
		}
		checkTypedHelpers(t, d.Capabilities, false)
	})
}

func FuzzParseConfirmActive(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseConfirmActive(in)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed PDU: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-marshalled\n% x\nwant\n% x", out, in)
		}
		again, err := ParseConfirmActive(out)
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("re-parse: %v", err)
		}
		checkTypedHelpers(t, c.Capabilities, false)
		ch, err := again.RestrictForRecording()
		if err != nil {
			if !reflect.DeepEqual(again.Capabilities, c.Capabilities) {
				t.Fatal("a failed rewrite changed the sets")
			}
			return
		}
		out, err = again.Marshal()
		if err != nil {
			// Removing codecs only shrinks the PDU.
			t.Fatalf("marshal rewritten: %v", err)
		}
		re, err := ParseConfirmActive(out)
		if err != nil {
			t.Fatalf("re-parse rewritten: %v", err)
		}
		if ch2, err := re.RestrictForRecording(); err != nil || ch2.Changed() {
			t.Fatalf("second rewrite: %+v %v (first %+v)", ch2, err, ch)
		}
	})
}

// checkTypedHelpers decodes every set that has a typed helper and checks that re-encoding
// yields the same bytes. With strict, a set the helper cannot decode is an error.
func checkTypedHelpers(t *testing.T, cs CapabilitySets, strict bool) {
	t.Helper()
	for _, s := range cs {
		var got CapabilitySet
		var err error
		switch s.Type {
		case CapsTypeGeneral:
			var c *GeneralCapability
			if c, err = ParseGeneralCapability(s.Data); err == nil {
				got = c.Capability()
			}
		case CapsTypeBitmap:
			var c *BitmapCapability
			if c, err = ParseBitmapCapability(s.Data); err == nil {
				got = c.Capability()
			}
		case CapsTypeOrder:
			var c *OrderCapability
			if c, err = ParseOrderCapability(s.Data); err == nil {
				got = c.Capability()
			}
		case CapsTypeBitmapCodecs:
			var c *BitmapCodecsCapability
			if c, err = ParseBitmapCodecsCapability(s.Data); err == nil {
				if got, err = c.Capability(); err != nil {
					t.Fatalf("bitmap codecs: %v", err)
				}
			}
		case CapsTypeSurfaceCommands:
			var c *SurfaceCommandsCapability
			if c, err = ParseSurfaceCommandsCapability(s.Data); err == nil {
				got = c.Capability()
			}
		case CapsTypeLargePointer:
			var c *LargePointerCapability
			if c, err = ParseLargePointerCapability(s.Data); err == nil {
				got = c.Capability()
			}
		case CapsTypeMultifragmentUpdate:
			var c *MultifragmentUpdateCapability
			if c, err = ParseMultifragmentUpdateCapability(s.Data); err == nil {
				got = c.Capability()
			}
		default:
			continue
		}
		if err != nil {
			if strict {
				t.Fatalf("%s: %v", CapsTypeName(s.Type), err)
			}
			continue
		}
		if got.Type != s.Type || !bytes.Equal(got.Data, s.Data) {
			t.Fatalf("%s re-encoded as % x, want % x", CapsTypeName(s.Type), got.Data, s.Data)
		}
	}
}

func FuzzParseShareControl(f *testing.F) {
	f.Add([]byte{0x04, 0x00, 0x16, 0x00})
	f.Add([]byte{0x16, 0x00, 0x17, 0x00, 0xEA, 0x03, 0xEA, 0x03, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x26, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		ps, err := ParseSharePDUs(in)
		if err != nil {
			return
		}
		var out []byte
		for _, p := range ps {
			if out, err = p.Append(out); err != nil {
				t.Fatalf("append of a parsed PDU: %v", err)
			}
			_ = p.Name()
			// The typed parsers must not panic on whatever the framing lets through.
			switch p.Control.Type() {
			case PDUTypeDemandActive:
				_, _ = ParseDemandActive(in)
			case PDUTypeConfirmActive:
				_, _ = ParseConfirmActive(in)
			case PDUTypeDeactivateAll:
				one, _ := p.Append(nil)
				if d, err := ParseDeactivateAll(one); err == nil {
					if again, err := d.Marshal(); err != nil || !bytes.Equal(again, one) {
						t.Fatalf("deactivate all re-marshal: %v", err)
					}
				}
			case PDUTypeData:
				_, _ = MessageType(p)
				_, _ = ParseSynchronize(p.Payload)
				_, _ = ParseControl(p.Payload)
				_, _ = ParseFontList(p.Payload)
				_, _ = ParseFontMap(p.Payload)
				_, _ = ParseSetErrorInfo(p.Payload)
				if s, err := ParseSaveSessionInfo(p.Payload); err == nil {
					_, _, _, _ = s.LogonErrors()
				}
			}
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("re-marshalled\n% x\nwant\n% x", out, in)
		}
		again, err := ParseSharePDUs(out)
		if err != nil || !reflect.DeepEqual(again, ps) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParseLicense(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := ParseLicensePDU(in)
		if err != nil {
			return
		}
		_ = l.IsValidClient()
		out, err := l.Marshal()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("re-marshal: %v", err)
		}
	})
}
