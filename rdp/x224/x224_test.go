package x224

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

// The golden files are the first TPKT frame of each direction of the captures in
// /work/shared/captures (see its README): real FreeRDP 2.11.7 requests and xrdp 0.9.21 /
// FreeRDP shadow server confirms.
func TestGoldenConnectionRequest(t *testing.T) {
	tests := map[string]*ConnectionRequest{
		"freerdp-xrdp-tls": {
			Cookie: "labuser1",
			Neg:    &NegotiationRequest{RequestedProtocols: ProtocolSSL | ProtocolHybrid},
		},
		"freerdp-shadow-nla": {
			Cookie: "shadowu",
			Neg:    &NegotiationRequest{RequestedProtocols: ProtocolSSL | ProtocolHybrid},
		},
		"freerdp-rdpfile-routing-token": {
			RoutingToken: []byte("tsv://MS Terminal Services Plugin.1.ssc_Zm9vYmFyYmF6cXV4MTIzNDU2"),
			Neg:          &NegotiationRequest{RequestedProtocols: ProtocolSSL},
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			frame := readGolden(t, name+".request.bin")
			got, err := ParseConnectionRequest(frame)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("parsed %+v (neg %+v), want %+v (neg %+v)", got, got.Neg, want, want.Neg)
			}
			again, err := got.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if !bytes.Equal(again, frame) {
				t.Fatalf("re-marshalled\n%s\nwant\n%s", hex.Dump(again), hex.Dump(frame))
			}
		})
	}
}

func TestGoldenConnectionConfirm(t *testing.T) {
	tests := map[string]*ConnectionConfirm{
		// negotiation.json: {"selectedProtocol": 1}
		"freerdp-xrdp-tls": {SrcRef: 0x1234, Response: &NegotiationResponse{
			Flags: RespFlagExtendedClientDataSupported, SelectedProtocol: ProtocolSSL}},
		"freerdp-rdpfile-routing-token": {SrcRef: 0x1234, Response: &NegotiationResponse{
			Flags: RespFlagExtendedClientDataSupported, SelectedProtocol: ProtocolSSL}},
		// negotiation.json: {"selectedProtocol": 2}
		"freerdp-shadow-nla": {Response: &NegotiationResponse{
			Flags: RespFlagExtendedClientDataSupported | RespFlagDynVCGFXProtocolSupported, SelectedProtocol: ProtocolHybrid}},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			frame := readGolden(t, name+".confirm.bin")
			got, err := ParseConnectionConfirm(frame)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("parsed %+v (rsp %+v), want %+v (rsp %+v)", got, got.Response, want, want.Response)
			}
			again, err := got.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if !bytes.Equal(again, frame) {
				t.Fatalf("re-marshalled\n%s\nwant\n%s", hex.Dump(again), hex.Dump(frame))
			}
		})
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cr builds a Connection Request frame from the bytes after the fixed X.224 part, with a
// correct length indicator.
func cr(rest ...[]byte) []byte {
	p := []byte{0, tpduConnectionRequest, 0, 0, 0, 0, 0}
	for _, r := range rest {
		p = append(p, r...)
	}
	p[0] = byte(len(p) - 1)
	f, err := tpkt.Append(nil, p)
	if err != nil {
		panic(err)
	}
	return f
}

var (
	negSSL   = []byte{1, 0, 8, 0, 1, 0, 0, 0}
	negCorr  = []byte{1, FlagCorrelationInfoPresent, 8, 0, 0x0B, 0, 0, 0}
	corrInfo = append([]byte{6, 0, 36, 0}, append(bytes.Repeat([]byte{0xA5}, 16), make([]byte, 16)...)...)
)

func TestParseConnectionRequest(t *testing.T) {
	id := [16]byte{}
	copy(id[:], bytes.Repeat([]byte{0xA5}, 16))
	tests := map[string]struct {
		frame []byte
		want  *ConnectionRequest
	}{
		"bare":                  {cr(), &ConnectionRequest{}},
		"cookie only":           {cr([]byte("Cookie: mstshash=bob\r\n")), &ConnectionRequest{Cookie: "bob"}},
		"neg only":              {cr(negSSL), &ConnectionRequest{Neg: &NegotiationRequest{RequestedProtocols: ProtocolSSL}}},
		"empty cookie":          {cr([]byte("Cookie: mstshash=\r\n"), negSSL), &ConnectionRequest{Neg: &NegotiationRequest{RequestedProtocols: 1}}},
		"empty line":            {cr([]byte("\r\n"), negSSL), &ConnectionRequest{Neg: &NegotiationRequest{RequestedProtocols: 1}}},
		"padded token":          {cr([]byte("sc1.s-abc.xyz \r\n"), negSSL), &ConnectionRequest{RoutingToken: []byte("sc1.s-abc.xyz "), Neg: &NegotiationRequest{RequestedProtocols: 1}}},
		"broker token":          {cr([]byte("Cookie: msts=3640205228.15629.0000\r\n")), &ConnectionRequest{RoutingToken: []byte("Cookie: msts=3640205228.15629.0000")}},
		"non-ASCII token":       {cr([]byte("tok\xc3\xa9\r\n")), &ConnectionRequest{RoutingToken: []byte("tok\xc3\xa9")}},
		"correlation (mstsc)":   {cr([]byte("Cookie: mstshash=admin\r\n"), negCorr, corrInfo), &ConnectionRequest{Cookie: "admin", Neg: &NegotiationRequest{Flags: FlagCorrelationInfoPresent, RequestedProtocols: 0x0B}, Correlation: &CorrelationInfo{ID: id}}},
		"restricted admin kept": {cr([]byte{1, FlagRestrictedAdminModeRequired, 8, 0, 2, 0, 0, 0}), &ConnectionRequest{Neg: &NegotiationRequest{Flags: FlagRestrictedAdminModeRequired, RequestedProtocols: ProtocolHybrid}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseConnectionRequest(tc.frame)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			again, err := got.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			back, err := ParseConnectionRequest(again)
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("round trip: %+v, %v", back, err)
			}
		})
	}
}

func TestParseConnectionRequestMalformed(t *testing.T) {
	good := cr([]byte("Cookie: mstshash=bob\r\n"), negSSL)
	with := func(i int, b byte) []byte {
		f := bytes.Clone(good)
		f[i] = b
		return f
	}
	corrBadType := bytes.Clone(corrInfo)
	corrBadType[0] = 7
	corrBadLen := bytes.Clone(corrInfo)
	corrBadLen[2] = 35
	tests := map[string]struct {
		frame []byte
		msg   string
	}{
		"nil":                    {nil, "header needs"},
		"not tpkt":               {[]byte{0x44, 0, 0, 11, 6, 0xE0, 0, 0, 0, 0, 0}, "version"},
		"tpkt length mismatch":   {append(bytes.Clone(good), 0), "frame has"},
		"too short for X.224":    {[]byte{3, 0, 0, 8, 3, 0xE0, 0, 0}, "needs 7 bytes"},
		"LI too small":           {with(4, good[4]-1), "length indicator"},
		"LI too large":           {with(4, good[4]+1), "length indicator"},
		"LI reserved":            {append([]byte{3, 0, 1, 4, 255, 0xE0, 0, 0, 0, 0, 0}, bytes.Repeat([]byte{'a'}, 249)...), "reserved"},
		"confirm code":           {with(5, 0xD0), "TPDU code 0xd0"},
		"credit set":             {with(5, 0xE1), "TPDU code 0xe1"},
		"dst-ref set":            {with(6, 1), "DST-REF"},
		"class 2":                {with(10, 0x20), "class option"},
		"unterminated line":      {cr([]byte("Cookie: mstshash=bob")), "CRLF-terminated"},
		"only CR":                {cr([]byte("token\r"), negSSL), "CRLF-terminated"},
		"control in token":       {cr([]byte("tok\x00en\r\n")), "routing token: control byte 0x00"},
		"lone LF in token":       {cr([]byte("tok\nen\r\n")), "routing token: control byte 0x0a"},
		"control in cookie":      {cr([]byte("Cookie: mstshash=b\tob\r\n")), "cookie: control byte 0x09"},
		"binary before neg":      {cr([]byte{2, 0, 8, 0, 1, 0, 0, 0}), "neither a CRLF-terminated line"},
		"short neg":              {cr([]byte{1, 0, 8, 0, 1, 0, 0}), "RDP_NEG_REQ needs 8 bytes"},
		"neg after line, type 2": {cr([]byte("x\r\n"), []byte{2, 0, 8, 0, 1, 0, 0, 0}), "type 0x02"},
		"neg length 9":           {cr([]byte{1, 0, 9, 0, 1, 0, 0, 0}), "RDP_NEG_REQ length 9"},
		"trailing byte":          {cr(negSSL, []byte{0}), "1 unexpected bytes"},
		"correlation no flag":    {cr(negSSL, corrInfo), "36 unexpected bytes"},
		"flag, no correlation":   {cr(negCorr), "CORRELATION_INFO_PRESENT is set but 0 bytes"},
		"correlation cut":        {cr(negCorr, corrInfo[:35]), "35 bytes follow"},
		"correlation bad type":   {cr(negCorr, corrBadType), "type 0x07"},
		"correlation bad length": {cr(negCorr, corrBadLen), "length 35"},
		"correlation trailing":   {cr(negCorr, corrInfo, []byte{1}), "1 unexpected bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseConnectionRequest(tc.frame)
			if err == nil {
				t.Fatalf("no error, parsed %+v", got)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}

func TestParseIgnoresMeaninglessFields(t *testing.T) {
	corr := bytes.Clone(corrInfo)
	corr[1] = 0xFF  // flags
	corr[30] = 0x77 // reserved
	req, err := ParseConnectionRequest(cr(negCorr, corr))
	if err != nil {
		t.Fatal(err)
	}
	if req.Correlation == nil || req.Correlation.ID[0] != 0xA5 {
		t.Fatalf("correlation = %+v", req.Correlation)
	}
	cc, err := ParseConnectionConfirm(cc([]byte{3, 0xFF, 8, 0, 5, 0, 0, 0}))
	if err != nil {
		t.Fatal(err)
	}
	if cc.Failure == nil || cc.Failure.Code != FailureHybridRequiredByServer {
		t.Fatalf("failure = %+v", cc.Failure)
	}
}

func TestMarshalConnectionRequestInvalid(t *testing.T) {
	long := bytes.Repeat([]byte{'t'}, MaxRoutingTokenLen)
	neg := &NegotiationRequest{Flags: FlagCorrelationInfoPresent, RequestedProtocols: 0x0B}
	if f, err := (&ConnectionRequest{RoutingToken: long, Neg: neg, Correlation: &CorrelationInfo{}}).Marshal(); err != nil {
		t.Fatalf("longest routing token: %v", err)
	} else if f[4] != MaxLengthIndicator {
		t.Fatalf("longest routing token: LI %d", f[4])
	}
	tests := map[string]*ConnectionRequest{
		"nil":                      nil,
		"cookie and token":         {Cookie: "a", RoutingToken: []byte("b")},
		"CR in cookie":             {Cookie: "a\rb"},
		"LF in token":              {RoutingToken: []byte("a\nb")},
		"token starts with 0x01":   {RoutingToken: []byte("\x01abc")},
		"token looks like cookie":  {RoutingToken: []byte("Cookie: mstshash=x")},
		"token too long":           {RoutingToken: append(bytes.Clone(long), 't'), Neg: neg, Correlation: &CorrelationInfo{}},
		"correlation without neg":  {Correlation: &CorrelationInfo{}},
		"flag without correlation": {Neg: neg},
		"correlation without flag": {Neg: &NegotiationRequest{}, Correlation: &CorrelationInfo{}},
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := req.Marshal(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func cc(rest ...[]byte) []byte {
	p := []byte{0, tpduConnectionConfirm, 0, 0, 0, 0, 0}
	for _, r := range rest {
		p = append(p, r...)
	}
	p[0] = byte(len(p) - 1)
	f, err := tpkt.Append(nil, p)
	if err != nil {
		panic(err)
	}
	return f
}

func TestConnectionConfirm(t *testing.T) {
	tests := map[string]struct {
		frame []byte
		want  *ConnectionConfirm
	}{
		"bare":    {cc(), &ConnectionConfirm{}},
		"tls":     {cc([]byte{2, 0, 8, 0, 1, 0, 0, 0}), &ConnectionConfirm{Response: &NegotiationResponse{SelectedProtocol: ProtocolSSL}}},
		"failure": {cc([]byte{3, 0, 8, 0, 1, 0, 0, 0}), &ConnectionConfirm{Failure: &NegotiationFailure{Code: FailureSSLRequiredByServer}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseConnectionConfirm(tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			again, err := got.Marshal()
			if err != nil || !bytes.Equal(again, tc.frame) {
				t.Fatalf("marshal = % x, %v; want % x", again, err, tc.frame)
			}
		})
	}

	malformedCases := map[string][]byte{
		"nil":          nil,
		"request code": cr(),
		"short":        {3, 0, 0, 9, 4, 0xD0, 0, 0, 0},
		"neg cut":      cc([]byte{2, 0, 8, 0, 1, 0, 0}),
		"neg long":     cc([]byte{2, 0, 8, 0, 1, 0, 0, 0, 0}),
		"neg length 4": cc([]byte{2, 0, 4, 0, 1, 0, 0, 0}),
		"request type": cc([]byte{1, 0, 8, 0, 1, 0, 0, 0}),
		"class":        {3, 0, 0, 11, 6, 0xD0, 0, 0, 0, 0, 1},
		"LI mismatch":  {3, 0, 0, 11, 7, 0xD0, 0, 0, 0, 0, 0},
	}
	for name, frame := range malformedCases {
		if _, err := ParseConnectionConfirm(frame); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}

	var nilCC *ConnectionConfirm
	if _, err := nilCC.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil confirm: err = %v", err)
	}
	both := &ConnectionConfirm{Response: &NegotiationResponse{}, Failure: &NegotiationFailure{}}
	if _, err := both.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("both set: err = %v", err)
	}
}

func FuzzParseConnectionRequest(f *testing.F) {
	f.Add(cr())
	f.Add(cr(negCorr, corrInfo))
	f.Add(cr([]byte("sc1.s-abcdefghij.0123456789abcdefghijABCDEFGHIJ-_xy \r\n"), negSSL))
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := ParseConnectionRequest(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := req.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed request: %v", err)
		}
		back, err := ParseConnectionRequest(again)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(back, req) {
			t.Fatalf("round trip changed the request: %+v -> %+v", req, back)
		}
	})
}

func FuzzParseConnectionConfirm(f *testing.F) {
	f.Add(cc())
	f.Add(cc([]byte{3, 0, 8, 0, 2, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := ParseConnectionConfirm(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed confirm: %v", err)
		}
		back, err := ParseConnectionConfirm(again)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the confirm: %+v -> %+v", c, back)
		}
	})
}
