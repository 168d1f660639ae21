package mcs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/ber"
	"github.com/sessionconnector/sessionconnector/rdp/gcc"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

// The golden files hold, for each capture in /work/shared/captures, the TPKT frames that
// follow the X.224 Connection Request / Confirm (and, in the NLA capture, the CredSSP
// exchange) up to the last Channel Join: <capture>.c2s.bin starts with the MCS Connect Initial,
// then Erect Domain Request, Attach User Request and the Channel Join Requests;
// <capture>.s2c.bin starts with the MCS Connect Response, then Attach User Confirm and the
// Channel Join Confirms. The Send Data PDUs that follow are left out: the first one from the
// client is the Client Info PDU with the password.
func goldenFrames(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatalf("read golden file: %v", err)
	}
	var frames [][]byte
	r := bytes.NewReader(b)
	for {
		f, err := tpkt.ReadFrame(r, 0)
		if errors.Is(err, io.EOF) {
			return frames
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", name, len(frames), err)
		}
		frames = append(frames, f)
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

type captureWant struct {
	maxChannels   uint32 // the server's maxChannelIds in the Connect Response
	width, height uint16
	selected      uint32 // CS_CORE serverSelectedProtocol
	requested     uint32 // SC_CORE clientRequestedProtocols
	userID        uint16 // from Attach User Confirm
	joins         []uint16
}

func captureWants() map[string]captureWant {
	return map[string]captureWant{
		// xrdp: user channel 1008, I/O channel 1003, then the four static channels.
		"freerdp-xrdp-tls":              {22, 1024, 768, 1, 3, 1008, []uint16{1008, 1003, 1004, 1005, 1006, 1007}},
		"freerdp-rdpfile-routing-token": {22, 800, 600, 1, 1, 1008, []uint16{1008, 1003, 1004, 1005, 1006, 1007}},
		// FreeRDP shadow server: user channel 1009, the MCS message channel 1008 (SC_MCS_MSGCHANNEL).
		"freerdp-shadow-nla": {34, 1024, 768, 2, 3, 1009, []uint16{1009, 1003, 1008, 1004, 1005, 1006, 1007}},
	}
}

func TestGoldenClientFrames(t *testing.T) {
	for name, want := range captureWants() {
		t.Run(name, func(t *testing.T) {
			frames := goldenFrames(t, name+".c2s.bin")
			if len(frames) != 3+len(want.joins) {
				t.Fatalf("%d frames, want %d", len(frames), 3+len(want.joins))
			}

			typ, pdu, err := ReadPDU(frames[0])
			if err != nil || typ != TypeConnectInitial {
				t.Fatalf("frame 0: %s, %v", typ, err)
			}
			ci := pdu.(*ConnectInitial)
			wantCI := ConnectInitial{
				CallingDomainSelector: []byte{1},
				CalledDomainSelector:  []byte{1},
				UpwardFlag:            true,
				TargetParameters:      DomainParameters{34, 2, 0, 1, 0, 1, 65535, 2},
				MinimumParameters:     DomainParameters{1, 1, 1, 1, 0, 1, 1056, 2},
				MaximumParameters:     DomainParameters{65535, 64535, 65535, 1, 0, 1, 65535, 2},
			}
			got := *ci
			got.UserData, got.enc = nil, berEncoding{}
			if !reflect.DeepEqual(got, wantCI) {
				t.Fatalf("connect initial %+v", got)
			}
			if out, err := ci.Marshal(); err != nil || !bytes.Equal(out, frames[0]) {
				t.Fatalf("re-marshal (%v):\n%s", err, hex.Dump(out))
			}
			_, cd, err := ci.ClientData()
			if err != nil {
				t.Fatalf("client data: %v", err)
			}
			core, _ := cd.Core()
			if core.DesktopWidth != want.width || core.DesktopHeight != want.height || core.ServerSelectedProtocol != want.selected ||
				core.ClientBuild != 18363 || core.EarlyCapabilityFlags&gcc.CSEarlyCapSupportDynVCGFXProtocol == 0 {
				t.Fatalf("core %+v", core)
			}
			net, _ := cd.Network()
			for i, n := range []string{"rdpdr", "rdpsnd", "cliprdr", "drdynvc"} {
				if net.Channels[i].NameString() != n {
					t.Fatalf("channel %d %q, want %q", i, net.Channels[i].NameString(), n)
				}
			}

			next := []PDU{&ErectDomainRequest{}, &AttachUserRequest{}}
			for _, ch := range want.joins {
				next = append(next, &ChannelJoinRequest{Initiator: want.userID, ChannelID: ch})
			}
			for i, f := range frames[1:] {
				typ, pdu, err := ReadPDU(f)
				if err != nil {
					t.Fatalf("frame %d: %v", i+1, err)
				}
				if typ != next[i].Type() || !reflect.DeepEqual(pdu, next[i]) {
					t.Fatalf("frame %d: %s %+v, want %+v", i+1, typ, pdu, next[i])
				}
				if out, err := pdu.Marshal(); err != nil || !bytes.Equal(out, f) {
					t.Fatalf("frame %d re-marshalled as %x, %v; want %x", i+1, out, err, f)
				}
			}
		})
	}
}

func TestGoldenServerFrames(t *testing.T) {
	for name, want := range captureWants() {
		t.Run(name, func(t *testing.T) {
			frames := goldenFrames(t, name+".s2c.bin")
			if len(frames) != 2+len(want.joins) {
				t.Fatalf("%d frames, want %d", len(frames), 2+len(want.joins))
			}
			typ, pdu, err := ReadPDU(frames[0])
			if err != nil || typ != TypeConnectResponse {
				t.Fatalf("frame 0: %s, %v", typ, err)
			}
			cr := pdu.(*ConnectResponse)
			if cr.Result != ResultSuccessful || cr.CalledConnectID != 0 ||
				cr.DomainParameters != (DomainParameters{want.maxChannels, 3, 0, 1, 0, 1, 65528, 2}) {
				t.Fatalf("connect response %+v", cr)
			}
			if out, err := cr.Marshal(); err != nil || !bytes.Equal(out, frames[0]) {
				t.Fatalf("re-marshal (%v):\n%s", err, hex.Dump(out))
			}
			_, sd, err := cr.ServerData()
			if err != nil {
				t.Fatalf("server data: %v", err)
			}
			core, _ := sd.Core()
			if core.ClientRequestedProtocols != want.requested {
				t.Fatalf("clientRequestedProtocols %d, want %d", core.ClientRequestedProtocols, want.requested)
			}
			sec, _ := sd.Security()
			if sec.EncryptionMethod != 0 || sec.EncryptionLevel != 0 || sec.ServerRandom != nil {
				t.Fatalf("security %+v", sec)
			}

			next := []PDU{&AttachUserConfirm{Result: ResultSuccessful, Initiator: want.userID}}
			for _, ch := range want.joins {
				next = append(next, &ChannelJoinConfirm{Initiator: want.userID, Requested: ch, ChannelID: ch, HasChannelID: true})
			}
			for i, f := range frames[1:] {
				typ, pdu, err := ReadPDU(f)
				if err != nil {
					t.Fatalf("frame %d: %v", i+1, err)
				}
				if typ != next[i].Type() || !reflect.DeepEqual(pdu, next[i]) {
					t.Fatalf("frame %d: %s %+v, want %+v", i+1, typ, pdu, next[i])
				}
				if out, err := pdu.Marshal(); err != nil || !bytes.Equal(out, f) {
					t.Fatalf("frame %d re-marshalled as %x, %v; want %x", i+1, out, err, f)
				}
			}
		})
	}
}

// checkFrameLengths checks that the TPKT length, the X.224 header and the BER lengths of a
// Connect PDU frame agree with its size.
func checkFrameLengths(t *testing.T, frame []byte, app uint32) []byte {
	t.Helper()
	if n := int(binary.BigEndian.Uint16(frame[2:4])); n != len(frame) {
		t.Fatalf("TPKT length %d, frame %d bytes", n, len(frame))
	}
	p, err := DataPayload(frame)
	if err != nil {
		t.Fatal(err)
	}
	r := ber.NewReader(p)
	h, _, err := r.ReadApplication(app)
	if err != nil || !r.Empty() || h.Size+h.Length != len(p) {
		t.Fatalf("BER application element: %+v, %v", h, err)
	}
	return p
}

func TestRewriteConnectInitial(t *testing.T) {
	for name := range captureWants() {
		t.Run(name, func(t *testing.T) {
			frame := goldenFrames(t, name+".c2s.bin")[0]
			orig := bytes.Clone(frame)

			same, err := RewriteConnectInitial(frame, func(*gcc.ClientData) error { return nil })
			if err != nil || !bytes.Equal(same, frame) {
				t.Fatalf("no-op rewrite changed the frame (%v)", err)
			}

			var removed []gcc.ChannelDef
			out, err := RewriteConnectInitial(frame, func(cd *gcc.ClientData) error {
				core, err := cd.Core()
				if err != nil {
					return err
				}
				core.SetServerSelectedProtocol(2)
				core.EarlyCapabilityFlags &^= gcc.CSEarlyCapSupportDynVCGFXProtocol
				if err := cd.SetCore(core); err != nil {
					return err
				}
				net, err := cd.Network()
				if err != nil {
					return err
				}
				removed = net.Remove(gcc.ChannelClipboard)
				return cd.SetNetwork(net)
			})
			if err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			if !bytes.Equal(frame, orig) {
				t.Fatal("rewrite modified its input")
			}
			if len(removed) != 1 || len(out) != len(frame)-12 {
				t.Fatalf("removed %d channels, frame %d -> %d bytes", len(removed), len(frame), len(out))
			}
			p := checkFrameLengths(t, out, 101)
			// Every length in the chain shrank by the 12 bytes of one CHANNEL_DEF:
			// BER application 0x1C7, BER userData 0x161, PER ConnectPDU 0x158, PER user data
			// 0x14A, CS_NET block 0x38.
			for _, c := range []struct {
				off  int
				want string
			}{{2, "8201bb"}, {0x67, "04820155"}, {0x72, "814c"}, {0x80, "813e"}} {
				if got := hex.EncodeToString(p[c.off : c.off+len(c.want)/2]); got != c.want {
					t.Fatalf("bytes at %#x: %s, want %s\n%s", c.off, got, c.want, hex.Dump(p[:0x80]))
				}
			}

			typ, pdu, err := ReadPDU(out)
			if err != nil || typ != TypeConnectInitial {
				t.Fatalf("re-parse: %v", err)
			}
			_, cd, err := pdu.(*ConnectInitial).ClientData()
			if err != nil {
				t.Fatal(err)
			}
			core, _ := cd.Core()
			net, _ := cd.Network()
			if core.ServerSelectedProtocol != 2 || core.EarlyCapabilityFlags&gcc.CSEarlyCapSupportDynVCGFXProtocol != 0 ||
				len(net.Channels) != 3 || net.Find("cliprdr") >= 0 {
				t.Fatalf("after rewrite: core %+v channels %+v", core, net.Channels)
			}
			if b := cd.Find(gcc.CSNet); len(b.Data) != 0x38-4-12 {
				t.Fatalf("CS_NET body %d bytes", len(b.Data))
			}
		})
	}
}

func TestRewriteConnectResponse(t *testing.T) {
	for name := range captureWants() {
		t.Run(name, func(t *testing.T) {
			frame := goldenFrames(t, name+".s2c.bin")[0]
			same, err := RewriteConnectResponse(frame, func(*gcc.ServerData) error { return nil })
			if err != nil || !bytes.Equal(same, frame) {
				t.Fatalf("no-op rewrite changed the frame (%v)", err)
			}
			out, err := RewriteConnectResponse(frame, func(sd *gcc.ServerData) error {
				core, err := sd.Core()
				if err != nil {
					return err
				}
				core.SetClientRequestedProtocols(0x0B)
				core.SetEarlyCapabilityFlags(gcc.SCEarlyCapEdgeActionsSupportedV1) // xrdp's block grows by 4
				return sd.SetCore(core)
			})
			if err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			checkFrameLengths(t, out, 102)
			_, pdu, err := ReadPDU(out)
			if err != nil {
				t.Fatal(err)
			}
			_, sd, err := pdu.(*ConnectResponse).ServerData()
			if err != nil {
				t.Fatal(err)
			}
			core, _ := sd.Core()
			if core.ClientRequestedProtocols != 0x0B || core.EarlyCapabilityFlags != gcc.SCEarlyCapEdgeActionsSupportedV1 {
				t.Fatalf("after rewrite: %+v", core)
			}
			if _, err := RewriteConnectResponse(frame, func(*gcc.ServerData) error { return io.ErrClosedPipe }); !errors.Is(err, io.ErrClosedPipe) {
				t.Fatalf("edit error not passed on: %v", err)
			}
		})
	}
	ci := goldenFrames(t, "freerdp-xrdp-tls.c2s.bin")[0]
	if _, err := RewriteConnectResponse(ci, func(*gcc.ServerData) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("response rewrite of a Connect Initial: err = %v", err)
	}
	if _, err := RewriteConnectInitial(ci, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil edit: err = %v", err)
	}
}

// mstsc writes maxMCSPDUsize 65535 as 02 02 FF FF (no sign octet), and a peer may use long
// length forms where short ones would do: both survive a re-encode, even after a rewrite.
func TestConnectInitialKeepsPeerEncoding(t *testing.T) {
	frame := goldenFrames(t, "freerdp-xrdp-tls.c2s.bin")[0]
	ci, err := ParseConnectInitial(frame[7:])
	if err != nil {
		t.Fatal(err)
	}
	var head []byte
	head = append(head, 0x04, 0x81, 0x01, 0x01) // callingDomainSelector, long length form
	head = append(head, 0x04, 0x01, 0x01, 0x01, 0x01, 0x01)
	params := func(p DomainParameters) {
		var c []byte
		for _, v := range []uint32{p.MaxChannelIDs, p.MaxUserIDs, p.MaxTokenIDs, p.NumPriorities, p.MinThroughput, p.MaxHeight, p.MaxMCSPDUSize, p.ProtocolVersion} {
			if v == 65535 {
				c = append(c, 0x02, 0x02, 0xFF, 0xFF)
			} else {
				c = ber.AppendUnsigned(c, v)
			}
		}
		head = append(head, 0x30, byte(len(c)))
		head = append(head, c...)
	}
	params(ci.TargetParameters)
	params(ci.MinimumParameters)
	params(ci.MaximumParameters)
	content, _ := ber.AppendElementSize(head, ber.Universal(ber.TagOctetString), ci.UserData, 5)
	mcs, _ := ber.AppendElementSize(nil, ber.Application(101), content, 5)
	mstsc, _ := AppendDataFrame(nil, mcs)

	_, pdu, err := ReadPDU(mstsc)
	if err != nil {
		t.Fatal(err)
	}
	got := pdu.(*ConnectInitial)
	if got.TargetParameters != ci.TargetParameters || got.MaximumParameters != ci.MaximumParameters || !got.UpwardFlag {
		t.Fatalf("parsed %+v", got)
	}
	if out, err := got.Marshal(); err != nil || !bytes.Equal(out, mstsc) {
		t.Fatalf("re-marshal (%v):\n%s\nwant\n%s", err, hex.Dump(out), hex.Dump(mstsc))
	}
	out, err := RewriteConnectInitial(mstsc, func(cd *gcc.ClientData) error {
		core, _ := cd.Core()
		core.SetServerSelectedProtocol(8)
		return cd.SetCore(core)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(mstsc) || !bytes.Equal(out[:7+len(head)+10], mstsc[:7+len(head)+10]) {
		t.Fatalf("rewrite changed the head:\n%s\nwas\n%s", hex.Dump(out[:80]), hex.Dump(mstsc[:80]))
	}
	// A changed head value is written canonically.
	got.TargetParameters.MaxMCSPDUSize = 0x10000
	canon, err := got.AppendMCS(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConnectInitial(canon)
	if err != nil || back.TargetParameters.MaxMCSPDUSize != 0x10000 || back.MaximumParameters != ci.MaximumParameters ||
		!bytes.Equal(back.CallingDomainSelector, []byte{1}) || !bytes.Contains(canon, []byte{0x02, 0x03, 0x00, 0xFF, 0xFF}) {
		t.Fatalf("changed head: %+v, %v", back, err)
	}
}

func TestDomainPDUs(t *testing.T) {
	payload := bytes.Repeat([]byte{0xAB}, 200)
	tests := map[string]struct {
		pdu PDU
		hex string // MCS bytes, without the payload of Send Data
	}{
		"erect domain":          {&ErectDomainRequest{}, "0401000100"},
		"erect domain big":      {&ErectDomainRequest{SubHeight: 0x1234, SubInterval: 0x10000}, "04021234030100 00"},
		"disconnect user":       {&DisconnectProviderUltimatum{Reason: ReasonUserRequested}, "2180"},
		"disconnect provider":   {&DisconnectProviderUltimatum{Reason: ReasonProviderInitiated}, "2080"},
		"disconnect channel":    {&DisconnectProviderUltimatum{Reason: ReasonChannelPurged}, "2200"},
		"attach user":           {&AttachUserRequest{}, "28"},
		"attach confirm":        {&AttachUserConfirm{Initiator: 1008}, "2e000007"},
		"attach confirm no id":  {&AttachUserConfirm{Result: ResultTooManyUsers}, "2da0"},
		"attach confirm 15":     {&AttachUserConfirm{Result: ResultUserRejected, Initiator: 1001}, "2fe00000"},
		"join":                  {&ChannelJoinRequest{Initiator: 1007, ChannelID: 1003}, "38000603eb"},
		"join confirm":          {&ChannelJoinConfirm{Initiator: 1007, Requested: 1004, ChannelID: 1004, HasChannelID: true}, "3e00000603ec03ec"},
		"join confirm refused":  {&ChannelJoinConfirm{Result: ResultNoSuchChannel, Initiator: 1007, Requested: 1004}, "3c60000603ec"},
		"send data request":     {&SendDataRequest{SendData{1007, 1003, PriorityHigh, SegmentationWhole, payload}}, "64000603eb7080c8"},
		"send data indication":  {&SendDataIndication{SendData{1002, 1003, PriorityHigh, SegmentationWhole, payload[:5]}}, "68000103eb7005"},
		"send data low, middle": {&SendDataIndication{SendData{1002, 1003, PriorityLow, 0, []byte{}}}, "68000103ebc000"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			frame, err := tc.pdu.Marshal()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			want := unhex(t, string(bytes.ReplaceAll([]byte(tc.hex), []byte(" "), nil)))
			p, err := DataPayload(frame)
			if err != nil || !bytes.HasPrefix(p, want) {
				t.Fatalf("MCS bytes %x, want prefix %x (%v)", p, want, err)
			}
			typ, back, err := ReadPDU(frame)
			if err != nil || typ != tc.pdu.Type() || !reflect.DeepEqual(back, tc.pdu) {
				t.Fatalf("read back %s %+v, %v; want %+v", typ, back, err, tc.pdu)
			}
			if typ.String() == "" {
				t.Fatal("empty type name")
			}
		})
	}
	// AppendSendDataHeader writes the same header as a marshalled Send Data Request.
	h, err := AppendSendDataHeader(nil, TypeSendDataRequest, 1007, 1003, len(payload))
	if err != nil || hex.EncodeToString(h) != "64000603eb7080c8" {
		t.Fatalf("AppendSendDataHeader = %x, %v", h, err)
	}
	if _, err := AppendSendDataHeader(nil, TypeAttachUserRequest, 1007, 1003, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AppendSendDataHeader of another type: err = %v", err)
	}
	if _, err := AppendSendDataHeader(nil, TypeSendDataIndication, 1000, 1003, 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AppendSendDataHeader with user 1000: err = %v", err)
	}
}

func TestMarshalInvalid(t *testing.T) {
	for name, p := range map[string]PDU{
		"reason 5":           &DisconnectProviderUltimatum{Reason: 5},
		"attach result 16":   &AttachUserConfirm{Result: 16},
		"attach user 1000":   &AttachUserConfirm{Initiator: 1000},
		"join user 0":        &ChannelJoinRequest{ChannelID: 1003},
		"join confirm 16":    &ChannelJoinConfirm{Result: 16, Initiator: 1001},
		"join confirm user":  &ChannelJoinConfirm{Initiator: 5},
		"send priority 4":    &SendDataRequest{SendData{Initiator: 1001, Priority: 4}},
		"send segmentation":  &SendDataRequest{SendData{Initiator: 1001, Segmentation: 4}},
		"send user 0":        &SendDataIndication{SendData{}},
		"send too long":      &SendDataIndication{SendData{Initiator: 1001, Data: make([]byte, 0x8000)}},
		"response result 16": &ConnectResponse{Result: 16},
		"huge user data":     &ConnectInitial{UserData: make([]byte, MaxMCSLen)},
		"nil initial":        (*ConnectInitial)(nil),
		"nil response":       (*ConnectResponse)(nil),
		"nil erect":          (*ErectDomainRequest)(nil),
		"nil disconnect":     (*DisconnectProviderUltimatum)(nil),
		"nil attach":         (*AttachUserRequest)(nil),
		"nil attach confirm": (*AttachUserConfirm)(nil),
		"nil join":           (*ChannelJoinRequest)(nil),
		"nil join confirm":   (*ChannelJoinConfirm)(nil),
		"nil send request":   (*SendDataRequest)(nil),
		"nil send indicaton": (*SendDataIndication)(nil),
	} {
		if _, err := p.Marshal(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if _, err := AppendDataFrame(nil, make([]byte, MaxMCSLen+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized frame: err = %v", err)
	}
	// A Connect PDU built from scratch encodes canonically and parses back.
	ci := &ConnectInitial{CallingDomainSelector: []byte{1}, CalledDomainSelector: []byte{1}, UpwardFlag: true,
		TargetParameters: DomainParameters{34, 2, 0, 1, 0, 1, 65535, 2}, UserData: []byte{1, 2, 3}}
	f, err := ci.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, back, err := ReadPDU(f)
	if err != nil {
		t.Fatal(err)
	}
	b := back.(*ConnectInitial)
	b.enc = berEncoding{}
	if !reflect.DeepEqual(b, ci) {
		t.Fatalf("fresh connect initial: %+v", b)
	}
	if _, _, err := ci.ClientData(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ClientData of junk: err = %v", err)
	}
	cr := &ConnectResponse{CalledConnectID: 7, DomainParameters: DomainParameters{MaxMCSPDUSize: 65528}, UserData: []byte{9}}
	f, err = cr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, back, err = ReadPDU(f)
	if err != nil {
		t.Fatal(err)
	}
	r := back.(*ConnectResponse)
	r.enc = berEncoding{}
	if !reflect.DeepEqual(r, cr) {
		t.Fatalf("fresh connect response: %+v", r)
	}
	if _, _, err := cr.ServerData(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ServerData of junk: err = %v", err)
	}
}

func TestReadPDUMalformed(t *testing.T) {
	frame := func(hexMCS string) []byte {
		f, err := AppendDataFrame(nil, unhex(t, hexMCS))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	ci := goldenFrames(t, "freerdp-xrdp-tls.c2s.bin")[0]
	for name, in := range map[string][]byte{
		"empty":                 nil,
		"bad TPKT length":       {3, 0, 0, 9, 2, 0xF0, 0x80, 0x28},
		"not a data TPDU":       {3, 0, 0, 8, 2, 0xE0, 0x80, 0x28},
		"no EOT":                {3, 0, 0, 8, 2, 0xF0, 0x00, 0x28},
		"LI 3":                  {3, 0, 0, 8, 3, 0xF0, 0x80, 0x28},
		"no MCS PDU":            frame(""),
		"choice 43":             frame("ac"),
		"attach with trailing":  frame("2800"),
		"erect cut":             frame("0401"),
		"erect trailing":        frame("040100010000"),
		"disconnect cut":        frame("21"),
		"disconnect reason 5":   frame("2280"),
		"attach confirm cut":    frame("2e0000"),
		"attach confirm long":   frame("2c0000"),
		"attach user overflow":  frame("2e00fc17"),
		"join cut":              frame("38000603"),
		"join confirm cut":      frame("3e00000603ec03"),
		"join confirm long":     frame("3c00000603ec03ec"),
		"send data cut":         frame("64000603eb70"),
		"send data short":       frame("64000603eb7005aabbcc"),
		"send data long":        frame("64000603eb7001aabb"),
		"send data bad length":  frame("64000603eb7081"),
		"BER not connect":       frame("7f1f"),
		"BER cut tag":           frame("7f"),
		"connect initial cut":   ci[:len(ci)-1],
		"connect initial extra": append(bytes.Clone(ci), 0),
		"connect response tag":  append(bytes.Clone(ci[:8]), append([]byte{0x66}, ci[9:]...)...),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "connect initial extra" || name == "connect initial cut" {
				binary.BigEndian.PutUint16(in[2:], uint16(len(in)))
			}
			_, pdu, err := ReadPDU(in)
			if !errors.Is(err, ErrMalformed) || pdu != nil {
				t.Fatalf("err = %v, pdu %+v", err, pdu)
			}
		})
	}
	for name, in := range map[string][]byte{
		"detach user request": frame("3000"),
		"connect additional":  frame("7f670100"),
		"channel leave":       frame("40"),
	} {
		t.Run(name, func(t *testing.T) {
			typ, pdu, err := ReadPDU(in)
			if !errors.Is(err, ErrUnsupported) || pdu != nil || typ == 0 {
				t.Fatalf("type %s, err = %v", typ, err)
			}
		})
	}
	if ResultUserRejected.String() != "rt-user-rejected" || Result(16).String() != "Result(16)" ||
		ReasonUserRequested.String() != "rn-user-requested" || Reason(5).String() != "Reason(5)" {
		t.Fatal("Result / Reason String")
	}
	if TypeDetachUserRequest.String() != "DetachUserRequest" || PDUType(30).String() != "DomainMCSPDU(30)" || PDUType(200).String() != "PDUType(200)" {
		t.Fatal("PDUType.String")
	}
}

// Connect Initial fields that must not be accepted.
func TestConnectMalformed(t *testing.T) {
	ci := goldenFrames(t, "freerdp-xrdp-tls.c2s.bin")[0][7:]
	cr := goldenFrames(t, "freerdp-xrdp-tls.s2c.bin")[0][7:]
	mod := func(b []byte, off int, v byte) []byte {
		c := bytes.Clone(b)
		c[off] = v
		return c
	}
	for name, in := range map[string][]byte{
		"calling not octet string": mod(ci, 5, 0x02),
		"boolean length 2":         mod(ci, 12, 0x02),
		"params not sequence":      mod(ci, 14, 0x31),
		"param not integer":        mod(ci, 16, 0x04),
		"params too short":         mod(ci, 15, 0x17),
		"user data not octets":     mod(ci, 0x67, 0x30),
	} {
		if _, err := ParseConnectInitial(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("connect initial %s: err = %v", name, err)
		}
	}
	for name, in := range map[string][]byte{
		"result not enumerated": mod(cr, 3, 0x02),
		"result 16":             mod(cr, 5, 0x10),
		"connect id not int":    mod(cr, 6, 0x0A),
	} {
		if _, err := ParseConnectResponse(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("connect response %s: err = %v", name, err)
		}
	}
	var nilCI *ConnectInitial
	if _, _, err := nilCI.ClientData(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil ClientData: err = %v", err)
	}
	var nilCR *ConnectResponse
	if _, _, err := nilCR.ServerData(); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil ServerData: err = %v", err)
	}
}

func FuzzParseConnectInitial(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		ci, err := ParseConnectInitial(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := ci.AppendMCS(nil)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-marshal: %v\n%x\n%x", err, out, b)
		}
		frame, err := AppendDataFrame(nil, b)
		if err != nil {
			return
		}
		same, err := RewriteConnectInitial(frame, func(*gcc.ClientData) error { return nil })
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("no-op rewrite: %v", err)
			}
			return
		}
		if !bytes.Equal(same, frame) {
			t.Fatalf("no-op rewrite changed the frame")
		}
		var kept int
		rewritten, err := RewriteConnectInitial(frame, func(cd *gcc.ClientData) error {
			if core, err := cd.Core(); err == nil {
				core.SetServerSelectedProtocol(2)
				core.EarlyCapabilityFlags &^= gcc.CSEarlyCapSupportDynVCGFXProtocol
				if err := cd.SetCore(core); err != nil {
					return err
				}
			}
			if net, err := cd.Network(); err == nil {
				net.Remove(gcc.ChannelClipboard)
				kept = len(net.Channels)
				return cd.SetNetwork(net)
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, ErrInvalid) {
				return // grew past a limit
			}
			t.Fatalf("rewrite: %v", err)
		}
		_, pdu, err := ReadPDU(rewritten)
		if err != nil {
			t.Fatalf("re-parse of the rewrite: %v", err)
		}
		_, cd, err := pdu.(*ConnectInitial).ClientData()
		if err != nil {
			t.Fatalf("client data of the rewrite: %v", err)
		}
		if core, err := cd.Core(); err == nil && (core.ServerSelectedProtocol != 2 || core.EarlyCapabilityFlags&gcc.CSEarlyCapSupportDynVCGFXProtocol != 0) {
			t.Fatalf("core after rewrite: %+v", core)
		}
		if net, err := cd.Network(); err == nil && (net.Find(gcc.ChannelClipboard) >= 0 || len(net.Channels) != kept) {
			t.Fatalf("channels after rewrite: %+v", net.Channels)
		}
	})
}

func FuzzParseConnectResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := ParseConnectResponse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := cr.AppendMCS(nil)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-marshal: %v\n%x\n%x", err, out, b)
		}
		frame, err := AppendDataFrame(nil, b)
		if err != nil {
			return
		}
		rewritten, err := RewriteConnectResponse(frame, func(sd *gcc.ServerData) error {
			core, err := sd.Core()
			if err != nil {
				return nil
			}
			core.SetClientRequestedProtocols(0x0B)
			return sd.SetCore(core)
		})
		if err != nil {
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrInvalid) {
				return
			}
			t.Fatalf("rewrite: %v", err)
		}
		_, pdu, err := ReadPDU(rewritten)
		if err != nil {
			t.Fatalf("re-parse of the rewrite: %v", err)
		}
		_, sd, err := pdu.(*ConnectResponse).ServerData()
		if err != nil {
			t.Fatalf("server data of the rewrite: %v", err)
		}
		if core, err := sd.Core(); err == nil && core.ClientRequestedProtocols != 0x0B {
			t.Fatalf("core after rewrite: %+v", core)
		}
	})
}

func FuzzReadDomainPDU(f *testing.F) {
	f.Add([]byte{3, 0, 0, 9, 2, 0xF0, 0x80, 0x21, 0x80})
	f.Add([]byte{3, 0, 0, 12, 2, 0xF0, 0x80, 0x68, 0x00, 0x01, 0x03, 0xEB, 0x70, 0x01, 0xFF})
	f.Fuzz(func(t *testing.T, frame []byte) {
		typ, pdu, err := ReadPDU(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrUnsupported", err)
			}
			if pdu != nil {
				t.Fatalf("a PDU with an error")
			}
			return
		}
		if pdu.Type() != typ {
			t.Fatalf("type %s, PDU says %s", typ, pdu.Type())
		}
		out, err := pdu.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed %s: %v", typ, err)
		}
		typ2, back, err := ReadPDU(out)
		if err != nil || typ2 != typ {
			t.Fatalf("re-parse: %s, %v", typ2, err)
		}
		if typ == TypeConnectInitial || typ == TypeConnectResponse {
			if !bytes.Equal(out, frame) {
				t.Fatalf("connect PDU not reproduced")
			}
			return
		}
		if !reflect.DeepEqual(back, pdu) {
			t.Fatalf("round trip changed the PDU: %+v -> %+v", pdu, back)
		}
	})
}
