package rdpfile

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestWriteContent(t *testing.T) {
	f := File{
		FullAddress:     "rdp.example.com:3390",
		LoadBalanceInfo: "sc1.s-abcdefghij.0123456789abcdefghijABCDEFGHIJ-_", // 49 bytes: padded
		Username:        "alice",
		DesktopWidth:    1280,
		DesktopHeight:   800,
		Extra:           []Setting{{"screen mode id", TypeInt, "1"}, {"winposstr", TypeString, "0,1,0,0,800,600"}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	want := "full address:s:rdp.example.com:3390\r\n" +
		"server port:i:3390\r\n" +
		"loadbalanceinfo:s:sc1.s-abcdefghij.0123456789abcdefghijABCDEFGHIJ-_ \r\n" +
		"username:s:alice\r\n" +
		"disableconnectionsharing:i:0\r\n" +
		"desktopwidth:i:1280\r\n" +
		"desktopheight:i:800\r\n" +
		"enablecredsspsupport:i:0\r\n" +
		"prompt for credentials:i:0\r\n" +
		"negotiate security layer:i:1\r\n" +
		"authentication level:i:2\r\n" +
		"autoreconnection enabled:i:0\r\n" +
		"use multimon:i:0\r\n" + // screen mode id is overridden by Extra
		"session bpp:i:32\r\n" +
		"smart sizing:i:1\r\n" +
		"dynamic resolution:i:1\r\n" +
		"redirectclipboard:i:1\r\n" +
		"audiomode:i:0\r\n" +
		"audiocapturemode:i:0\r\n" +
		"redirectprinters:i:0\r\n" +
		"redirectcomports:i:0\r\n" +
		"redirectsmartcards:i:0\r\n" +
		"redirectposdevices:i:0\r\n" +
		"drivestoredirect:s:\r\n" +
		"screen mode id:i:1\r\n" +
		"winposstr:s:0,1,0,0,800,600\r\n"
	if got != want {
		t.Fatalf("Write produced\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(strings.ToLower(got), "password") {
		t.Fatal("file mentions a password")
	}
	back, err := Parse(strings.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*back, f) {
		t.Fatalf("Parse(Write(f)) = %+v, want %+v", *back, f)
	}
}

func TestLoadBalanceInfoPadding(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ab", "ab"},
		{"abc", "abc "},
		{"a", "a "},
		{"tsv://MS Terminal Services Plugin.1.ssc_Zm9vYmFyYmF6cXV4MTIzNDU2", "tsv://MS Terminal Services Plugin.1.ssc_Zm9vYmFyYmF6cXV4MTIzNDU2"},
	} {
		out, err := Marshal(File{FullAddress: "h", LoadBalanceInfo: tc.in})
		if err != nil {
			t.Fatal(err)
		}
		line := "loadbalanceinfo:s:" + tc.want + "\r\n"
		if !strings.Contains(string(out), line) {
			t.Errorf("%q: file lacks %q", tc.in, line)
		}
		if (len(tc.want)+2)%2 != 0 {
			t.Errorf("%q: token plus CRLF has odd length", tc.want)
		}
		back, err := Parse(bytes.NewReader(out))
		if err != nil || back.LoadBalanceInfo != tc.in {
			t.Errorf("%q: parsed back %q, %v", tc.in, back.LoadBalanceInfo, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	files := map[string]File{
		"minimal":      {FullAddress: "10.0.0.1"},
		"ipv6":         {FullAddress: "[2001:db8::1]:443", LoadBalanceInfo: "tok", DisableConnectionSharing: true},
		"ipv6 no port": {FullAddress: "[2001:db8::1]"},
		"remoteapp": {FullAddress: "h:1", RemoteAppProgram: "||notepad", AlternateShell: "cmd.exe /c x",
			Extra: []Setting{{"remoteapplicationname", TypeString, "Notepad"}, {"custom blob", TypeBinary, "00FFab"}}},
		"non-ASCII (UTF-16)": {FullAddress: "hôte.example:3389", Username: "Jürgen ☃ 𝄞", LoadBalanceInfo: "abcd"},
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			out, err := Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*back, f) {
				t.Fatalf("Parse(Write(f)) = %+v, want %+v", *back, f)
			}
		})
	}
}

func TestWriteEncoding(t *testing.T) {
	ascii, err := Marshal(File{FullAddress: "h:1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(ascii), "full address:s:h:1\r\n") {
		t.Fatalf("ASCII file starts %q", ascii[:20])
	}
	wide, err := Marshal(File{FullAddress: "h:1", Username: "é"})
	if err != nil {
		t.Fatal(err)
	}
	if wide[0] != 0xFF || wide[1] != 0xFE || wide[2] != 'f' || wide[3] != 0 {
		t.Fatalf("non-ASCII file does not start with UTF-16LE BOM: % x", wide[:4])
	}
}

func utf16le(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = []byte{0xFF, 0xFE}
	}
	for _, c := range utf16.Encode([]rune(s)) {
		b = append(b, byte(c), byte(c>>8))
	}
	return b
}

// An mstsc-saved file (UTF-16LE, BOM, CRLF), shortened.
const mstscSaved = "screen mode id:i:2\r\nuse multimon:i:0\r\ndesktopwidth:i:1920\r\ndesktopheight:i:1080\r\n" +
	"session bpp:i:32\r\nwinposstr:s:0,1,0,0,800,600\r\ncompression:i:1\r\nfull address:s:rds.example.com\r\n" +
	"audiomode:i:0\r\nredirectprinters:i:1\r\nauthentication level:i:2\r\nprompt for credentials:i:0\r\n" +
	"remoteapplicationmode:i:0\r\nalternate shell:s:\r\nserver port:i:3390\r\nusername:s:CORP\\bob\r\n" +
	"loadbalanceinfo:s:tsv://MS Terminal Services Plugin.1.Desktops\r\ngatewayhostname:s:\r\n"

func TestParseMstscFile(t *testing.T) {
	for name, raw := range map[string][]byte{
		"utf-16le bom": utf16le(mstscSaved, true),
		"utf-8":        []byte(mstscSaved),
		"utf-8 bom":    append([]byte{0xEF, 0xBB, 0xBF}, mstscSaved...),
		"utf-16be bom": func() []byte {
			le := utf16le(mstscSaved, false)
			be := []byte{0xFE, 0xFF}
			for i := 0; i+1 < len(le); i += 2 {
				be = append(be, le[i+1], le[i])
			}
			return be
		}(),
		"LF only": []byte(strings.ReplaceAll(mstscSaved, "\r\n", "\n")),
	} {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			want := File{
				FullAddress:     "rds.example.com:3390",
				LoadBalanceInfo: "tsv://MS Terminal Services Plugin.1.Desktops",
				Username:        `CORP\bob`,
				DesktopWidth:    1920,
				DesktopHeight:   1080,
				Extra: []Setting{
					{"winposstr", TypeString, "0,1,0,0,800,600"},
					{"compression", TypeInt, "1"},
					{"redirectprinters", TypeInt, "1"},
					{"gatewayhostname", TypeString, ""},
				},
			}
			if !reflect.DeepEqual(*f, want) {
				t.Fatalf("parsed %+v\nwant   %+v", *f, want)
			}
		})
	}
}

func TestParseAddressAndPort(t *testing.T) {
	tests := map[string]string{
		"full address:s:h:5\r\nserver port:i:6\r\n": "h:5", // the port in full address wins (mstsc)
		"server port:i:6\r\nfull address:s:h\r\n":   "h:6",
		"full address:s:[::1]\r\nserver port:i:7\n": "[::1]:7",
		"full address:s:h\r\n":                      "h",
	}
	for in, want := range tests {
		f, err := Parse(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if f.FullAddress != want {
			t.Errorf("%q: FullAddress %q, want %q", in, f.FullAddress, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		in  []byte
		msg string
	}{
		"no type":              {[]byte("full address:s:h\r\njunk\r\n"), "line 2: want name:type:value"},
		"one colon":            {[]byte("a:s\r\n"), "line 1: want name:type:value"},
		"empty name":           {[]byte(":s:x\r\n"), "line 1: empty name"},
		"unknown type":         {[]byte("a:x:1\r\n"), "line 1: a: unknown type"},
		"bad integer":          {[]byte("\r\n\r\nsession bpp:i:32x\r\n"), "line 3: session bpp: \"32x\" is not an integer"},
		"bad binary":           {[]byte("a:b:0g\r\n"), "non-hex"},
		"odd binary":           {[]byte("a:b:0\r\n"), "odd length"},
		"wrong field type":     {[]byte("full address:i:1\r\n"), "line 1: full address has type i, want s"},
		"duplicate":            {[]byte("username:s:a\r\nUserName:s:b\r\n"), "line 2: duplicate setting \"UserName\" (first on line 1)"},
		"NUL in value":         {[]byte("a:s:x\x00y\r\n"), "line 1: a: value contains"},
		"CR in value":          {[]byte("a:s:x\ry\r\n"), "line 1: a: value contains"},
		"bad address":          {[]byte("full address:s:a:b:c\r\n"), "line 1: full address"},
		"bad port in address":  {[]byte("full address:s:h:0\r\n"), "invalid port"},
		"server port range":    {[]byte("full address:s:h\r\nserver port:i:70000\r\n"), "line 2: server port: 70000 is not a TCP port"},
		"port without address": {[]byte("server port:i:1\r\n"), "line 1: server port without full address"},
		"width range":          {[]byte("desktopwidth:i:100\r\n"), "line 1: desktopwidth: 100 is outside"},
		"int overflow":         {[]byte("desktopwidth:i:99999999999\r\n"), "out of range"},
		"remoteapp no program": {[]byte("full address:s:h\r\nremoteapplicationmode:i:1\r\n"), "line 2: remoteapplicationmode:i:1 without"},
		"invalid UTF-8":        {[]byte("a:s:\xff\r\n"), "line 1: not valid UTF-8"},
		"odd UTF-16":           {[]byte{0xFF, 0xFE, 'a'}, "odd length"},
		"lone surrogate":       {append([]byte{0xFF, 0xFE}, 0x00, 0xD8, 'a', 0), "unpaired UTF-16 surrogate"},
		"lone low surrogate":   {append([]byte{0xFF, 0xFE}, 0x00, 0xDC), "unpaired UTF-16 surrogate"},
		"too large":            {bytes.Repeat([]byte("a:s:b\r\n"), MaxSize/7+1), "larger than"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := Parse(bytes.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error, parsed %+v", f)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestWriteInvalid(t *testing.T) {
	tests := map[string]File{
		"no address":             {},
		"CRLF in address":        {FullAddress: "h\r\nusername:s:x"},
		"space in address":       {FullAddress: "h h"},
		"bare IPv6":              {FullAddress: "::1"},
		"port 0":                 {FullAddress: "h:0"},
		"port 65536":             {FullAddress: "h:65536"},
		"LF in username":         {FullAddress: "h", Username: "a\nb"},
		"CR in shell":            {FullAddress: "h", AlternateShell: "a\rb"},
		"NUL in program":         {FullAddress: "h", RemoteAppProgram: "a\x00"},
		"LF in ticket":           {FullAddress: "h", LoadBalanceInfo: "a\nb"},
		"non-ASCII ticket":       {FullAddress: "h", LoadBalanceInfo: "é"},
		"ticket trailing space":  {FullAddress: "h", LoadBalanceInfo: "ab "},
		"ticket too long":        {FullAddress: "h", LoadBalanceInfo: strings.Repeat("t", 203)},
		"width too small":        {FullAddress: "h", DesktopWidth: 199},
		"height too large":       {FullAddress: "h", DesktopHeight: 8193},
		"negative width":         {FullAddress: "h", DesktopWidth: -1},
		"password 51":            {FullAddress: "h", Extra: []Setting{{"password 51", TypeBinary, "00"}}},
		"ClearTextPassword":      {FullAddress: "h", Extra: []Setting{{"ClearTextPassword", TypeString, "x"}}},
		"modelled name in Extra": {FullAddress: "h", Extra: []Setting{{"Full Address", TypeString, "x"}}},
		"server port in Extra":   {FullAddress: "h", Extra: []Setting{{"server port", TypeInt, "1"}}},
		"duplicate Extra":        {FullAddress: "h", Extra: []Setting{{"a", TypeInt, "1"}, {"A", TypeInt, "2"}}},
		"colon in name":          {FullAddress: "h", Extra: []Setting{{"a:b", TypeInt, "1"}}},
		"empty name":             {FullAddress: "h", Extra: []Setting{{"", TypeInt, "1"}}},
		"bad type":               {FullAddress: "h", Extra: []Setting{{"a", 'x', "1"}}},
		"bad int":                {FullAddress: "h", Extra: []Setting{{"a", TypeInt, "one"}}},
		"CR in Extra value":      {FullAddress: "h", Extra: []Setting{{"a", TypeString, "x\ry"}}},
		"too large":              {FullAddress: "h", Extra: []Setting{{"a", TypeString, strings.Repeat("x", MaxSize)}}},
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, f)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if buf.Len() != 0 {
				t.Fatalf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
	longest := strings.Repeat("t", 202)
	if _, err := Marshal(File{FullAddress: "h", LoadBalanceInfo: longest}); err != nil {
		t.Fatalf("202-byte ticket: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteError(t *testing.T) {
	if err := Write(failWriter{}, File{FullAddress: "h"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefaultsIsACopy(t *testing.T) {
	d := Defaults()
	d[0].Value = "changed"
	if Defaults()[0].Value == "changed" {
		t.Fatal("Defaults exposes package state")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(mstscSaved))
	f.Add(utf16le(mstscSaved, true))
	if b, err := Marshal(File{FullAddress: "h:1", LoadBalanceInfo: "abc", RemoteAppProgram: "p", Username: "ü"}); err == nil {
		f.Add(b)
	}
	f.Add([]byte("full address:s:[::1]\nserver port:i:9\nremoteapplicationmode:i:1\nremoteapplicationprogram:s:x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		out, err := Marshal(*p)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return // not every readable file is one Write accepts (no full address, passwords…)
		}
		back, err := Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("Parse(Write(Parse(x))): %v\n%q", err, out)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("Parse(Write(p)) != p:\n%+v\n%+v", back, p)
		}
	})
}
