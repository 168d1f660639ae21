package pdu

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sessionconnector/sessionconnector/test/captures"
)

// TestCaptureSharePDUsRoundTrip re-marshals every share PDU of the captures' I/O channels.
func TestCaptureSharePDUsRoundTrip(t *testing.T) {
	for _, name := range captures.Names {
		s := loadSession(t, name)
		for _, list := range [][][]byte{s.c2sShare, s.s2cShare} {
			for i, b := range list {
				ps, err := ParseSharePDUs(b)
				if err != nil {
					t.Fatalf("%s PDU %d: %v", name, i, err)
				}
				var out []byte
				for _, p := range ps {
					if out, err = p.Append(out); err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(out, b) {
					t.Fatalf("%s PDU %d re-marshalled differently", name, i)
				}
			}
		}
	}
}

func TestCaptureFinalizationPDUs(t *testing.T) {
	s := loadSession(t, "freerdp-xrdp-tls")
	payload := func(b []byte) (*SharePDU, []byte) {
		p, rest, err := ParseSharePDU(b)
		if err != nil || len(rest) != 0 {
			t.Fatalf("parse: %v, %d left", err, len(rest))
		}
		return p, p.Payload
	}
	// Client: Synchronize, Control(cooperate), Control(request control), Font List.
	p, b := payload(s.c2sShare[1])
	if sy, err := ParseSynchronize(b); err != nil || sy != (Synchronize{MessageType: SyncMsgTypeSync, TargetUser: 0x03F0}) {
		t.Errorf("client synchronize %+v %v", sy, err)
	}
	if p.Data.ShareID != 0x000103EA || p.Data.StreamID != StreamLow || p.Data.UncompressedLength != 4 || p.Data.Compressed() {
		t.Errorf("client share data header %+v", p.Data)
	}
	_, b = payload(s.c2sShare[2])
	if c, err := ParseControl(b); err != nil || c != (Control{Action: CtrlActionCooperate}) {
		t.Errorf("client control %+v %v", c, err)
	}
	_, b = payload(s.c2sShare[3])
	if c, err := ParseControl(b); err != nil || c.Action != CtrlActionRequestControl {
		t.Errorf("client control %+v %v", c, err)
	}
	_, b = payload(s.c2sShare[4])
	if f, err := ParseFontList(b); err != nil || f != (FontList{ListFlags: FontListFirst | FontListLast, EntrySize: 0x32}) {
		t.Errorf("font list %+v %v", f, err)
	}
	// Server: Synchronize, Control(cooperate), Control(granted), Font Map; xrdp writes the
	// whole PDU length into uncompressedLength and compressedLength.
	p, b = payload(s.s2cShare[1])
	if sy, err := ParseSynchronize(b); err != nil || sy.TargetUser != 0x03EA || p.Data.UncompressedLength != p.Control.TotalLength {
		t.Errorf("server synchronize %+v %v, header %+v", sy, err, p.Data)
	}
	_, b = payload(s.s2cShare[3])
	// MS-RDPBCGR wants grantId to be the user channel; xrdp 0.9 sends 0 (FreeRDP's shadow
	// server sends 0x03F1).
	if c, err := ParseControl(b); err != nil || c.Action != CtrlActionGrantedControl || c.GrantID != 0 || c.ControlID != 0x03EA {
		t.Errorf("server control %+v %v", c, err)
	}
	_, b = payload(s.s2cShare[4])
	if f, err := ParseFontMap(b); err != nil || f != (FontMap{MapFlags: FontMapFirst | FontMapLast, EntrySize: 4}) {
		t.Errorf("font map %+v %v", f, err)
	}
	// xrdp bulk-compresses its slow-path updates (MPPC 64K).
	p, _ = payload(s.s2cShare[5])
	if !p.Data.Compressed() || p.Data.CompressedType&CompressionTypeMask != PacketComprType64K {
		t.Errorf("update header %+v", p.Data)
	}
	if _, err := MessageType(p); !errors.Is(err, ErrUnsupported) {
		t.Errorf("MessageType of a compressed update: %v", err)
	}
}

func TestSharePDUCases(t *testing.T) {
	data := []byte{0x16, 0x00, 0x17, 0x00, 0xEA, 0x03, 0xEA, 0x03, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x05, 0x00}
	two := append(append([]byte(nil), data...), 0x04, 0x00, 0x16, 0x00)
	ps, err := ParseSharePDUs(two)
	if err != nil || len(ps) != 2 || ps[1].Control.Type() != PDUTypeDeactivateAll || !ps[1].Control.NoSource {
		t.Fatalf("two PDUs: %v %+v", err, ps)
	}
	if mt, err := MessageType(ps[0]); err != nil || mt != UpdateTypeBitmap {
		t.Errorf("update type %d %v", mt, err)
	}
	for _, bad := range [][]byte{nil, {0x05, 0x00, 0x17, 0x00, 0x00}, {0x03, 0x00, 0x17}, {0x08, 0x00, 0x17, 0x00, 0, 0, 0, 0}} {
		if _, err := ParseSharePDUs(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: %v", bad, err)
		}
	}
	p := &SharePDU{Control: ShareControlHeader{PDUType: 0x17}}
	if _, err := p.Append(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("data PDU without data header: %v", err)
	}
	p = &SharePDU{Control: ShareControlHeader{PDUType: 0x16, NoSource: true}, Payload: []byte{1}}
	if _, err := p.Append(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("short header with body: %v", err)
	}
	p = &SharePDU{Control: ShareControlHeader{PDUType: 0x11}, Payload: make([]byte, 0x8000-6)}
	if _, err := p.Append(nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("length equal to the flow marker: %v", err)
	}
}

func TestDataPayloads(t *testing.T) {
	sy := Synchronize{MessageType: 1, TargetUser: 1002}
	if got, err := ParseSynchronize(sy.Append(nil)); err != nil || got != sy {
		t.Errorf("synchronize %+v %v", got, err)
	}
	c := Control{Action: 4, GrantID: 1, ControlID: 0xDEADBEEF}
	if got, err := ParseControl(c.Append(nil)); err != nil || got != c {
		t.Errorf("control %+v %v", got, err)
	}
	fl := FontList{1, 2, 3, 4}
	if got, err := ParseFontList(fl.Append(nil)); err != nil || got != fl {
		t.Errorf("font list %+v %v", got, err)
	}
	fm := FontMap{1, 2, 3, 4}
	if got, err := ParseFontMap(fm.Append(nil)); err != nil || got != fm {
		t.Errorf("font map %+v %v", got, err)
	}
	se := SetErrorInfo{ErrorInfo: ErrInfoLogoffByUser}
	if got, err := ParseSetErrorInfo(se.Append(nil)); err != nil || got != se {
		t.Errorf("set error info %+v %v", got, err)
	}
	for _, f := range []func([]byte) error{
		func(b []byte) error { _, err := ParseSynchronize(b); return err },
		func(b []byte) error { _, err := ParseControl(b); return err },
		func(b []byte) error { _, err := ParseFontList(b); return err },
		func(b []byte) error { _, err := ParseFontMap(b); return err },
		func(b []byte) error { _, err := ParseSetErrorInfo(b); return err },
		func(b []byte) error { _, err := ParseSaveSessionInfo(b); return err },
	} {
		if err := f([]byte{1, 2, 3}); !errors.Is(err, ErrMalformed) {
			t.Errorf("3-byte payload: %v", err)
		}
	}

	// Save Session Info, INFOTYPE_LOGON_EXTENDED_INFO with an auto-reconnect cookie and a
	// logon error (LOGON_MSG_SESSION_CONTINUE).
	ext := le16(nil, 0)
	ext = le32(ext, LogonExAutoReconnectCookie|LogonExLogonErrors)
	ext = append(le32(ext, 28), make([]byte, 28)...)
	ext = le32(le32(le32(ext, 8), LogonMsgSessionContinue), 0)
	ssi := SaveSessionInfo{InfoType: InfoTypeLogonExtendedInfo, InfoData: append(ext, make([]byte, 570)...)}
	got, err := ParseSaveSessionInfo(ssi.Append(nil))
	if err != nil || got.InfoType != ssi.InfoType {
		t.Fatal(err)
	}
	if typ, d, ok, err := got.LogonErrors(); err != nil || !ok || typ != LogonMsgSessionContinue || d != 0 {
		t.Errorf("logon errors %x %x %t %v", typ, d, ok, err)
	}
	if _, _, ok, err := (SaveSessionInfo{InfoType: InfoTypeLogonLong}).LogonErrors(); ok || err != nil {
		t.Errorf("logon long: %t %v", ok, err)
	}
	if _, _, _, err := (SaveSessionInfo{InfoType: InfoTypeLogonExtendedInfo, InfoData: ext[:20]}).LogonErrors(); !errors.Is(err, ErrMalformed) {
		t.Errorf("cut extended info: %v", err)
	}
}

func TestLicensePDUs(t *testing.T) {
	for _, name := range captures.Names {
		s := loadSession(t, name)
		for _, b := range append(append([][]byte(nil), s.c2sLicense...), s.s2cLicense...) {
			l, err := ParseLicensePDU(b)
			if err != nil {
				t.Fatal(err)
			}
			out, err := l.Marshal()
			if err != nil || !bytes.Equal(out, b) {
				t.Fatalf("%s: re-marshal %v", name, err)
			}
		}
		last, _ := ParseLicensePDU(s.s2cLicense[len(s.s2cLicense)-1])
		code, transition, ok := last.ErrorAlert()
		if !ok || code != LicenseStatusValidClient || transition != LicenseStNoTransition || !last.IsValidClient() {
			t.Errorf("%s: last server licensing PDU %+v", name, last)
		}
		// xrdp 0.9 writes wMsgSize into flagsHi; FreeRDP's shadow server leaves it zero.
		t.Logf("%s: valid client security header %+v, preamble flags 0x%02x", name, last.Security, last.Flags)
	}
	for _, bad := range [][]byte{
		{0x80, 0, 0, 0, 0xFF, 0x03, 0x10, 0x00},       // wMsgSize beyond the data
		{0x40, 0, 0, 0, 0xFF, 0x03, 0x04, 0x00},       // no SEC_LICENSE_PKT
		{0x80, 0, 0, 0, 0xFF},                         // cut preamble
		{0x88, 0, 0, 0, 0xFF, 0x03, 0x04, 0x00, 0, 0}, // SEC_ENCRYPT
	} {
		if _, err := ParseLicensePDU(bad); err == nil {
			t.Errorf("% x accepted", bad)
		}
	}
}
