package pdu

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
)

func TestGoldenClientInfo(t *testing.T) {
	tests := map[string]struct {
		user, password string
		flags          uint32 // flags that must be set
		notFlags       uint32 // flags that must be clear
		comprType      uint8
	}{
		"freerdp-xrdp-tls": {user: "labuser1", password: "Lab-Pass-1",
			flags: InfoUnicode | InfoCompression | InfoAutologon | InfoLogonNotify | InfoMouse, comprType: PacketComprTypeRDP61},
		"freerdp-rdpfile-routing-token": {user: "labuser1", password: "Lab-Pass-1",
			flags: InfoUnicode | InfoCompression | InfoAutologon, comprType: PacketComprTypeRDP61},
		// With NLA FreeRDP still sends the password, without INFO_AUTOLOGON.
		"freerdp-shadow-nla": {user: "shadowu", password: "Shadow-Pass-1",
			flags: InfoUnicode | InfoCompression, notFlags: InfoAutologon, comprType: PacketComprTypeRDP61},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := readGolden(t, name+".clientinfo.bin")
			sec, ci, err := ParseClientInfoPDU(in)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if sec != (SecurityHeader{Flags: SecInfoPkt}) {
				t.Errorf("security header = %+v", sec)
			}
			if ci.UserName() != tc.user || ci.Domain() != "" || ci.AlternateShell() != "" || ci.WorkingDir() != "" {
				t.Errorf("strings = %q %q %q %q", ci.Domain(), ci.UserName(), ci.AlternateShell(), ci.WorkingDir())
			}
			if !ci.PasswordEqual(tc.password) || ci.PasswordEqual(tc.password+"x") || ci.PasswordEqual("") {
				t.Errorf("password does not compare equal to the capture's")
			}
			if ci.Flags&tc.flags != tc.flags || ci.Flags&tc.notFlags != 0 {
				t.Errorf("flags = 0x%08x, want 0x%08x set and 0x%08x clear", ci.Flags, tc.flags, tc.notFlags)
			}
			if on, typ := ci.Compression(); !on || typ != tc.comprType {
				t.Errorf("compression = %t, %d", on, typ)
			}
			e := ci.Extended
			if e == nil {
				t.Fatal("no extended info")
			}
			if e.ClientAddressFamily != AFInet || e.ClientAddressString() != "127.0.0.1" ||
				e.ClientDirString() != `C:\Windows\System32\mstscax.dll` {
				t.Errorf("extended info = %v", e)
			}
			// FreeRDP 2.11 stops after cbAutoReconnectCookie (0).
			if e.Present != ExtendedAutoReconnectCookie || len(e.AutoReconnectCookie) != 0 || len(e.Trailing) != 0 {
				t.Errorf("extended info present up to %d, cookie %d bytes, trailing %d", e.Present, len(e.AutoReconnectCookie), len(e.Trailing))
			}
			if len(e.ClientTimeZone) != TimeZoneInfoLen {
				t.Errorf("time zone of %d bytes", len(e.ClientTimeZone))
			}
			t.Logf("flags 0x%08x, performance flags 0x%08x, %v", ci.Flags, e.PerformanceFlags, ci)

			out, err := ci.MarshalPDU(sec)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if !bytes.Equal(out, in) {
				t.Fatalf("re-marshalled\n%s\nwant\n%s", hex.Dump(out), hex.Dump(in))
			}

			// The proxy's rewrite: vault credentials, autologon, no bulk compression.
			for _, err := range []error{ci.SetDomain("LAB"), ci.SetUserName("svc-recorder"), ci.SetPassword("Vault-S3cret-ü€𝄞")} {
				if err != nil {
					t.Fatal(err)
				}
			}
			ci.SetAutologon(true)
			ci.DisableCompression()
			out, err = ci.MarshalPDU(sec)
			if err != nil {
				t.Fatalf("marshal rewritten: %v", err)
			}
			_, again, err := ParseClientInfoPDU(out)
			if err != nil {
				t.Fatalf("parse rewritten: %v", err)
			}
			if again.Domain() != "LAB" || again.UserName() != "svc-recorder" || !again.PasswordEqual("Vault-S3cret-ü€𝄞") {
				t.Errorf("rewritten strings = %q %q", again.Domain(), again.UserName())
			}
			if again.Flags&InfoAutologon == 0 || again.Flags&(InfoCompression|InfoCompressionTypeMask) != 0 {
				t.Errorf("rewritten flags = 0x%08x", again.Flags)
			}
			if again.Flags&^(InfoAutologon|InfoCompression|InfoCompressionTypeMask) != ci.Flags&^(InfoAutologon|InfoCompression|InfoCompressionTypeMask) {
				t.Errorf("other flags changed: 0x%08x -> 0x%08x", ci.Flags, again.Flags)
			}
			if !reflect.DeepEqual(again.Extended, ci.Extended) || again.CodePage != ci.CodePage {
				t.Errorf("extended info or code page changed")
			}
			// The cb fields are recomputed: 3, 12 and 16 UTF-16 code units (𝄞 is a surrogate pair).
			if got := out[4+8 : 4+14]; !bytes.Equal(got, []byte{6, 0, 24, 0, 34, 0}) {
				t.Errorf("cbDomain, cbUserName, cbPassword = % x", got)
			}
			if !again.Equal(ci) {
				t.Errorf("re-parsed %v, want %v", again, ci)
			}
		})
	}
}

func TestClientInfoRedaction(t *testing.T) {
	const pw = "Lab-Pass-1"
	_, ci, err := ParseClientInfoPDU(readGolden(t, "freerdp-xrdp-tls.clientinfo.bin"))
	if err != nil {
		t.Fatal(err)
	}
	ci.Extended.AutoReconnectCookie = []byte("COOKIE-SECRET-BYTES-0123456")
	ci.Extended.Present = ExtendedAutoReconnectCookie
	holder := struct {
		Info  *ClientInfo
		Value ClientInfo
	}{ci, *ci}
	// fmt cannot call Format on unexported fields and prints them by reflection: the
	// password must stay out of reach even then (the exported cookie does not).
	hidden := struct {
		inner  ClientInfo
		innerP *ClientInfo
	}{*ci, ci}
	var outs, pwOnly []string
	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(format, ci), fmt.Sprintf(format, *ci), fmt.Sprintf(format, holder))
		outs = append(outs, fmt.Sprintf(format, ci.Extended), fmt.Sprintf(format, *ci.Extended))
		pwOnly = append(pwOnly, fmt.Sprintf(format, hidden))
	}
	outs = append(outs, ci.String(), ci.GoString(), fmt.Sprint(ci), fmt.Sprintln(*ci), fmt.Sprint([]*ClientInfo{ci}),
		fmt.Sprint(map[string]ClientInfo{"k": *ci}))
	for _, v := range []any{ci, *ci, holder, ci.Extended} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(j))
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("client info", "ci", ci, "value", *ci, "ext", ci.Extended)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("client info", "ci", ci, "value", *ci, "ext", ci.Extended)
	outs = append(outs, logged.String())
	// The password in the forms it could leak in: text, hex of its text, UTF-16LE, and its
	// code units printed as numbers.
	units := fmt.Sprint(ci.passwordUnits())
	u16 := string(encodeUTF16LE(pw))
	pwLeaks := []string{pw, hex.EncodeToString([]byte(pw)), u16, hex.EncodeToString([]byte(u16)), strings.Trim(units, "[]")}
	for _, s := range outs {
		for _, leak := range append(pwLeaks, "COOKIE-SECRET", "434f4f4b4945", "67 79 79 75") {
			if strings.Contains(strings.ToLower(s), strings.ToLower(leak)) {
				t.Fatalf("output leaks the password or cookie: %s", s)
			}
		}
	}
	for _, s := range pwOnly {
		for _, leak := range pwLeaks {
			if strings.Contains(strings.ToLower(s), strings.ToLower(leak)) {
				t.Fatalf("output leaks the password: %s", s)
			}
		}
	}
	if !strings.Contains(ci.String(), "Password:<redacted>") || !strings.Contains(ci.String(), `UserName:"labuser1"`) {
		t.Errorf("String() = %s", ci)
	}
	var empty ClientInfo
	if !strings.Contains(empty.String(), "Password:<empty>") {
		t.Errorf("String() of empty = %s", empty)
	}
}

func encodeUTF16LE(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

func TestClientInfoPasswordErrorsAndZeroing(t *testing.T) {
	_, ci, err := ParseClientInfoPDU(readGolden(t, "freerdp-xrdp-tls.clientinfo.bin"))
	if err != nil {
		t.Fatal(err)
	}
	units := ci.passwordUnits()
	if len(units) != len("Lab-Pass-1") {
		t.Fatalf("password of %d units", len(units))
	}
	for _, bad := range []string{"secret\x00PW", "secret\xffPW", strings.Repeat("secretPW", 40)} {
		err := ci.SetPassword(bad)
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("SetPassword accepted a bad value: %v", err)
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "PW") {
			t.Fatalf("error leaks the value: %v", err)
		}
		if err := ci.SetPasswordUTF8([]byte(bad)); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "secret") {
			t.Fatalf("SetPasswordUTF8: %v", err)
		}
	}
	if !ci.PasswordEqual("Lab-Pass-1") {
		t.Fatal("a refused password replaced the old one")
	}
	// ANSI encoding refuses characters above 0xFF without naming the value.
	ci.Flags &^= InfoUnicode
	if err := ci.SetPassword("pw€"); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.Marshal(); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "pw") {
		t.Fatalf("marshal of a non-Latin-1 ANSI password: %v", err)
	}
	ci.Flags |= InfoUnicode

	if err := ci.SetPasswordUTF8([]byte("Vault-Pass")); err != nil {
		t.Fatal(err)
	}
	for i, u := range units {
		if u != 0 {
			t.Fatalf("old password unit %d not zeroed by SetPassword", i)
		}
	}
	units = ci.passwordUnits()
	ci.ZeroPassword()
	for i, u := range units {
		if u != 0 {
			t.Fatalf("password unit %d not zeroed", i)
		}
	}
	if ci.HasPassword() || ci.PasswordEqual("Vault-Pass") {
		t.Fatal("password still set after ZeroPassword")
	}
	out, err := ci.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ParseClientInfo(out); err != nil || again.HasPassword() {
		t.Fatalf("after ZeroPassword: %v, password %t", err, again.HasPassword())
	}
}

// Marshal sizes its buffer once, so that no abandoned copy of the password is left behind by a
// growing append.
func TestClientInfoMarshalAllocatesOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	sec, ci, err := ParseClientInfoPDU(readGolden(t, "freerdp-xrdp-tls.clientinfo.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// MarshalPDU's first allocation holds the security header only.
	for name, tc := range map[string]struct {
		f    func()
		want float64
	}{
		"Marshal":    {func() { _, _ = ci.Marshal() }, 1},
		"MarshalPDU": {func() { _, _ = ci.MarshalPDU(sec) }, 2},
	} {
		if n := testing.AllocsPerRun(10, tc.f); n != tc.want {
			t.Errorf("%s: %.0f allocations, want %.0f", name, n, tc.want)
		}
	}
}

func TestClientInfoSetters(t *testing.T) {
	var ci ClientInfo
	ci.Flags = InfoUnicode
	tests := map[string]struct {
		set  func(string) error
		get  func() string
		good string
	}{
		"domain":          {ci.SetDomain, ci.Domain, "CORP.EXAMPLE"},
		"user":            {ci.SetUserName, ci.UserName, "ädmin"},
		"alternate shell": {ci.SetAlternateShell, ci.AlternateShell, `C:\Tools\app.exe /x`},
		"working dir":     {ci.SetWorkingDir, ci.WorkingDir, `C:\Tools`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := tc.set(tc.good); err != nil || tc.get() != tc.good {
				t.Fatalf("set %q: %v, got %q", tc.good, err, tc.get())
			}
			for _, bad := range []string{"a\x00b", "\xff", strings.Repeat("x", MaxStringUnits+1), strings.Repeat("𝄞", MaxStringUnits/2+1)} {
				if err := tc.set(bad); !errors.Is(err, ErrInvalid) {
					t.Errorf("set %q: %v", bad, err)
				}
			}
			if tc.get() != tc.good {
				t.Errorf("a refused value replaced %q with %q", tc.good, tc.get())
			}
			if err := tc.set(strings.Repeat("x", MaxStringUnits)); err != nil {
				t.Errorf("longest value refused: %v", err)
			}
			if err := tc.set(tc.good); err != nil {
				t.Fatal(err)
			}
		})
	}
	out, err := ci.MarshalPDU(SecurityHeader{Flags: SecInfoPkt})
	if err != nil {
		t.Fatal(err)
	}
	if _, again, err := ParseClientInfoPDU(out); err != nil || again.Extended != nil || again.Domain() != "CORP.EXAMPLE" {
		t.Fatalf("re-parse: %v %v", err, again)
	}
	if _, err := ci.MarshalPDU(SecurityHeader{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("marshal without SEC_INFO_PKT: %v", err)
	}
	var ext ExtendedInfo
	if err := ext.SetClientAddress("192.0.2.10"); err != nil || ext.ClientAddressString() != "192.0.2.10" || len(ext.ClientAddress) != 22 {
		t.Errorf("SetClientAddress: %v, % x", err, ext.ClientAddress)
	}
	if err := ext.SetClientAddress(strings.Repeat("f", 40)); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetClientAddress too long: %v", err)
	}
}

// buildInfo builds a TS_INFO_PACKET by hand for the unit tests.
func buildInfo(flags uint32, unicode bool, strs [5]string, ext []byte) []byte {
	b := le32(le32(nil, 1252), flags)
	enc := func(s string) []byte {
		if unicode {
			return encodeUTF16LE(s)
		}
		var b []byte // ISO-8859-1
		for _, r := range s {
			b = append(b, byte(r))
		}
		return b
	}
	for _, s := range strs {
		b = le16(b, uint16(len(enc(s))))
	}
	for _, s := range strs {
		b = append(b, enc(s)...)
		if unicode {
			b = append(b, 0, 0)
		} else {
			b = append(b, 0)
		}
	}
	return append(b, ext...)
}

func TestParseClientInfoCases(t *testing.T) {
	strs := [5]string{"DOM", "user", "pässword", "shell", "dir"}
	baseExt := append(le16(le16(nil, AFInet), 4), 'a', 0, 0, 0)
	baseExt = append(le16(baseExt, 2), 0, 0)
	tz := make([]byte, TimeZoneInfoLen)
	tz[0] = 0xC4
	full := append(append([]byte(nil), baseExt...), tz...)
	full = le32(le32(full, 7), PerfDisableWallpaper)
	full = append(le16(full, 4), 1, 2, 3, 4) // cookie
	full = le16(le16(full, 0x1111), 0x2222)  // reserved1, reserved2
	full = append(le16(full, 4), 'W', 0, 'E', 0)
	full = le16(full, 1) // dynamicDaylightTimeDisabled

	tests := map[string]struct {
		in      []byte
		wantErr error
		check   func(*testing.T, *ClientInfo)
	}{
		"ansi strings": {in: buildInfo(InfoMouse, false, strs, nil), check: func(t *testing.T, c *ClientInfo) {
			if c.UserName() != "user" || !c.PasswordEqual("pässword") || c.Extended != nil {
				t.Errorf("got %v", c)
			}
		}},
		"unicode base extended info": {in: buildInfo(InfoUnicode, true, strs, baseExt), check: func(t *testing.T, c *ClientInfo) {
			if c.Extended.Present != ExtendedBase || c.Extended.ClientAddressString() != "a" {
				t.Errorf("got %v", c.Extended)
			}
		}},
		"every optional field and trailing bytes": {in: buildInfo(InfoUnicode, true, strs, append(append([]byte(nil), full...), 9, 9, 9)),
			check: func(t *testing.T, c *ClientInfo) {
				e := c.Extended
				if e.Present != ExtendedDynamicDaylightTimeDisabled || e.ClientSessionID != 7 || e.PerformanceFlags != PerfDisableWallpaper ||
					!bytes.Equal(e.AutoReconnectCookie, []byte{1, 2, 3, 4}) || e.Reserved1 != 0x1111 || e.Reserved2 != 0x2222 ||
					len(e.DynamicDSTTimeZoneKeyName) != 4 || e.DynamicDaylightTimeDisabled != 1 || !bytes.Equal(e.Trailing, []byte{9, 9, 9}) {
					t.Errorf("got %+v", *e)
				}
			}},
		"partial field kept as trailing": {in: buildInfo(InfoUnicode, true, strs, append(append([]byte(nil), baseExt...), tz[:100]...)),
			check: func(t *testing.T, c *ClientInfo) {
				if c.Extended.Present != ExtendedBase || len(c.Extended.Trailing) != 100 {
					t.Errorf("got %v", c.Extended)
				}
			}},
		"odd unicode length": {in: func() []byte {
			b := buildInfo(InfoUnicode, true, strs, nil)
			b[8] = 3
			return b
		}(), wantErr: ErrMalformed},
		"missing terminator": {in: func() []byte {
			b := buildInfo(InfoUnicode, true, strs, nil)
			b[infoFixedLen+6] = 'x' // first byte after "DOM"
			return b
		}(), wantErr: ErrMalformed},
		"cookie longer than the packet": {in: buildInfo(InfoUnicode, true, strs, func() []byte {
			b := append(append([]byte(nil), baseExt...), tz...)
			b = le32(le32(b, 0), 0)
			return append(le16(b, 200), 1, 2)
		}()), wantErr: ErrMalformed},
		"extended info cut in clientDir": {in: buildInfo(InfoUnicode, true, strs, baseExt[:len(baseExt)-1]), wantErr: ErrMalformed},
		"too short":                      {in: make([]byte, infoFixedLen-1), wantErr: ErrMalformed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := ParseClientInfo(tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
			out, err := c.Marshal()
			if err != nil || !bytes.Equal(out, tc.in) {
				t.Fatalf("re-marshal: %v\n%s\nwant\n%s", err, hex.Dump(out), hex.Dump(tc.in))
			}
		})
	}
}

func TestParseClientInfoEveryPrefix(t *testing.T) {
	in := readGolden(t, "freerdp-xrdp-tls.clientinfo.bin")
	for n := range len(in) {
		_, c, err := ParseClientInfoPDU(in[:n])
		if err == nil {
			// Cutting inside the optional extended fields is legal; the rest must fail.
			out, merr := c.MarshalPDU(SecurityHeader{Flags: SecInfoPkt})
			if merr != nil || !bytes.Equal(out, in[:n]) {
				t.Fatalf("prefix %d: re-marshal %v", n, merr)
			}
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("prefix %d: %v", n, err)
		}
		if strings.Contains(err.Error(), "Lab-Pass") {
			t.Fatalf("error leaks the password: %v", err)
		}
	}
	if _, _, err := ParseClientInfoPDU(append([]byte{0x48, 0}, in[2:]...)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("SEC_ENCRYPT: %v", err)
	}
	if _, _, err := ParseClientInfoPDU(append([]byte{0x00, 0}, in[2:]...)); !errors.Is(err, ErrMalformed) {
		t.Errorf("no SEC_INFO_PKT: %v", err)
	}
}
