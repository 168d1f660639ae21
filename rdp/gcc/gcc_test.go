package gcc

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// The golden files are the GCC Conference Create Request / Response (the userData of the MCS
// Connect Initial / Response) of the captures in /work/shared/captures: FreeRDP 2.11.7 against
// xrdp 0.9.21 (TLS, with a cookie or a .rdp routing token) and against the FreeRDP 2.11.7 shadow
// server (NLA).
func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		t.Fatalf("read golden file: %v", err)
	}
	return b
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

type clientWant struct {
	width, height  uint16
	selected       uint32
	blockOrder     []uint16
	channels       []string
	channelOptions []uint32
}

type serverWant struct {
	version, requested uint32
	coreSize           int
	blockOrder         []uint16
	msgChannel         []byte
	userDataLenSize    int
}

var freerdpBlocks = []uint16{CSCore, CSCluster, CSSecurity, CSNet, CSMCSMsgChannel, CSMultitransport}

func captures() map[string]struct {
	client clientWant
	server serverWant
} {
	ch := []string{"rdpdr", "rdpsnd", "cliprdr", "drdynvc"}
	opts := []uint32{0xC0800000, 0xC0000000, 0xC0A00000, 0xC0800000}
	xrdpBlocks := []uint16{SCCore, SCNet, SCSecurity}
	return map[string]struct {
		client clientWant
		server serverWant
	}{
		"freerdp-xrdp-tls": {
			clientWant{1024, 768, 1, freerdpBlocks, ch, opts},
			serverWant{0x00080004, 3, 8, xrdpBlocks, nil, 2},
		},
		"freerdp-rdpfile-routing-token": {
			clientWant{800, 600, 1, freerdpBlocks, ch, opts},
			serverWant{0x00080004, 1, 8, xrdpBlocks, nil, 2},
		},
		"freerdp-shadow-nla": {
			clientWant{1024, 768, 2, freerdpBlocks, ch, opts},
			serverWant{0x0008000C, 3, 12, []uint16{SCCore, SCNet, SCSecurity, SCMCSMsgChannel}, []byte{0xF0, 0x03}, 1},
		},
	}
}

func blockTypes(blocks []Block) []uint16 {
	var ts []uint16
	for _, b := range blocks {
		ts = append(ts, b.Type)
	}
	return ts
}

func TestGoldenConferenceCreateRequest(t *testing.T) {
	for name, want := range captures() {
		t.Run(name, func(t *testing.T) {
			in := readGolden(t, name+".conference-create-request.bin")
			req, err := ParseConferenceCreateRequest(in)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if req.ConferenceName != "1" || req.H221Key != ClientH221Key || len(req.UserData) != 330 {
				t.Fatalf("request name %q key %q user data %d bytes", req.ConferenceName, req.H221Key, len(req.UserData))
			}
			out, err := req.Marshal()
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("re-marshal (%v):\n%s\nwant\n%s", err, hex.Dump(out), hex.Dump(in))
			}
			// FreeRDP encodes canonically: a request built from scratch is byte-identical.
			fresh := &ConferenceCreateRequest{UserData: req.UserData}
			if out, err := fresh.Marshal(); err != nil || !bytes.Equal(out, in) {
				t.Fatalf("fresh request (%v):\n%s\nwant\n%s", err, hex.Dump(out), hex.Dump(in))
			}

			cd, err := ParseClientData(req.UserData)
			if err != nil {
				t.Fatalf("parse client data: %v", err)
			}
			if got := blockTypes(cd.Blocks); !reflect.DeepEqual(got, want.client.blockOrder) {
				t.Fatalf("blocks %04x, want %04x", got, want.client.blockOrder)
			}
			if out, err := cd.Marshal(); err != nil || !bytes.Equal(out, req.UserData) {
				t.Fatalf("client data re-marshal: %v", err)
			}

			core, err := cd.Core()
			if err != nil {
				t.Fatalf("core: %v", err)
			}
			if core.Version != 0x0008000C || core.DesktopWidth != want.client.width || core.DesktopHeight != want.client.height ||
				core.ClientBuild != 18363 || core.KeyboardLayout != 0x409 || core.Name() != "vm" ||
				core.HighColorDepth != 24 || core.SupportedColorDepths != 0x0F ||
				core.ConnectionType != ConnectionTypeAutodetect || core.ServerSelectedProtocol != want.client.selected ||
				core.Size() != ClientCoreLen || !core.HasServerSelectedProtocol() {
				t.Fatalf("core %+v", core)
			}
			wantEarly := CSEarlyCapSupportErrInfoPDU | CSEarlyCapWant32BPPSession | CSEarlyCapValidConnectionType |
				CSEarlyCapSupportMonitorLayoutPDU | CSEarlyCapSupportNetcharAutodetect |
				CSEarlyCapSupportDynVCGFXProtocol | CSEarlyCapSupportHeartbeatPDU
			if core.EarlyCapabilityFlags != wantEarly {
				t.Fatalf("earlyCapabilityFlags 0x%04x, want 0x%04x", core.EarlyCapabilityFlags, wantEarly)
			}
			sec, err := cd.Security()
			if err != nil || sec.EncryptionMethods != 0 || sec.ExtEncryptionMethods != 0 {
				t.Fatalf("security %+v, %v", sec, err)
			}
			cl, err := cd.Cluster()
			if err != nil || cl.Flags != ClusterRedirectionSupported|3<<2 || cl.RedirectedSessionID != 0 {
				t.Fatalf("cluster %+v, %v", cl, err)
			}
			net, err := cd.Network()
			if err != nil {
				t.Fatalf("network: %v", err)
			}
			var names []string
			var opts []uint32
			for _, c := range net.Channels {
				names = append(names, c.NameString())
				opts = append(opts, c.Options)
			}
			if !reflect.DeepEqual(names, want.client.channels) || !reflect.DeepEqual(opts, want.client.channelOptions) {
				t.Fatalf("channels %q %08x", names, opts)
			}

			// Re-encoding every typed view leaves the bytes as they were.
			for _, set := range []error{cd.SetCore(core), cd.SetSecurity(sec), cd.SetCluster(cl), cd.SetNetwork(net)} {
				if set != nil {
					t.Fatalf("set: %v", set)
				}
			}
			if out, err := cd.Marshal(); err != nil || !bytes.Equal(out, req.UserData) {
				t.Fatalf("typed views changed the client data (%v)", err)
			}
		})
	}
}

func TestGoldenConferenceCreateResponse(t *testing.T) {
	for name, want := range captures() {
		t.Run(name, func(t *testing.T) {
			in := readGolden(t, name+".conference-create-response.bin")
			resp, err := ParseConferenceCreateResponse(in)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if resp.NodeID != 0x79F3 || resp.Tag != 1 || resp.Result != 0 || resp.H221Key != ServerH221Key {
				t.Fatalf("response %+v", resp)
			}
			// Servers write 42 whatever the real length; it is kept.
			if in[7] != DefaultResponseConnectPDULength || resp.enc.exact {
				t.Fatalf("ConnectPDU length 0x%02x (exact %t)", in[7], resp.enc.exact)
			}
			if resp.enc.userDataLenSize != want.server.userDataLenSize {
				t.Fatalf("user data length of %d octets, want %d", resp.enc.userDataLenSize, want.server.userDataLenSize)
			}
			out, err := resp.Marshal()
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("re-marshal (%v):\n%s\nwant\n%s", err, hex.Dump(out), hex.Dump(in))
			}
			if want.server.userDataLenSize == 1 {
				// The FreeRDP server encodes canonically (with the constant 42).
				fresh := &ConferenceCreateResponse{NodeID: 0x79F3, Tag: 1, UserData: resp.UserData}
				if out, err := fresh.Marshal(); err != nil || !bytes.Equal(out, in) {
					t.Fatalf("fresh response (%v):\n%s\nwant\n%s", err, hex.Dump(out), hex.Dump(in))
				}
			}

			sd, err := ParseServerData(resp.UserData)
			if err != nil {
				t.Fatalf("parse server data: %v", err)
			}
			if got := blockTypes(sd.Blocks); !reflect.DeepEqual(got, want.server.blockOrder) {
				t.Fatalf("blocks %04x, want %04x", got, want.server.blockOrder)
			}
			core, err := sd.Core()
			if err != nil || core.Version != want.server.version || core.ClientRequestedProtocols != want.server.requested ||
				core.Size() != want.server.coreSize || core.EarlyCapabilityFlags != 0 {
				t.Fatalf("core %+v, %v", core, err)
			}
			if core.HasEarlyCapabilityFlags() != (want.server.coreSize == 12) || !core.HasClientRequestedProtocols() {
				t.Fatalf("core presence: early %t", core.HasEarlyCapabilityFlags())
			}
			sec, err := sd.Security()
			if err != nil || sec.EncryptionMethod != 0 || sec.EncryptionLevel != EncryptionLevelNone ||
				sec.ServerRandom != nil || sec.ServerCertificate != nil {
				t.Fatalf("security %+v, %v", sec, err)
			}
			net, err := sd.Network()
			if err != nil || net.MCSChannelID != 1003 || !reflect.DeepEqual(net.ChannelIDs, []uint16{1004, 1005, 1006, 1007}) {
				t.Fatalf("network %+v, %v", net, err)
			}
			if mc := sd.Find(SCMCSMsgChannel); want.server.msgChannel != nil && (mc == nil || !bytes.Equal(mc.Data, want.server.msgChannel)) {
				t.Fatalf("SC_MCS_MSGCHANNEL %+v", mc)
			}
			for _, set := range []error{sd.SetCore(core), sd.SetSecurity(sec), sd.SetNetwork(net)} {
				if set != nil {
					t.Fatalf("set: %v", set)
				}
			}
			if out, err := sd.Marshal(); err != nil || !bytes.Equal(out, resp.UserData) {
				t.Fatalf("typed views changed the server data (%v)", err)
			}
		})
	}
}

// The rewrites a proxy does, end to end through the GCC layer.
func TestRewriteClientAndServerData(t *testing.T) {
	in := readGolden(t, "freerdp-xrdp-tls.conference-create-request.bin")
	req, err := ParseConferenceCreateRequest(in)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := ParseClientData(req.UserData)
	if err != nil {
		t.Fatal(err)
	}
	core, _ := cd.Core()
	core.SetServerSelectedProtocol(2)
	core.EarlyCapabilityFlags &^= CSEarlyCapSupportDynVCGFXProtocol
	if err := cd.SetCore(core); err != nil {
		t.Fatal(err)
	}
	net, _ := cd.Network()
	if removed := net.Remove("CLIPRDR"); len(removed) != 1 || removed[0].NameString() != ChannelClipboard {
		t.Fatalf("removed %+v", removed)
	}
	if err := cd.SetNetwork(net); err != nil {
		t.Fatal(err)
	}
	if req.UserData, err = cd.Marshal(); err != nil {
		t.Fatal(err)
	}
	out, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in)-12 {
		t.Fatalf("rewritten request of %d bytes, want %d", len(out), len(in)-12)
	}
	// ConnectPDU length (0x158 - 12) and user data length (0x14A - 12) were recomputed.
	if !bytes.Equal(out[7:9], []byte{0x81, 0x4C}) || !bytes.Equal(out[21:23], []byte{0x81, 0x3E}) {
		t.Fatalf("lengths %x %x", out[7:9], out[21:23])
	}
	back, err := ParseConferenceCreateRequest(out)
	if err != nil {
		t.Fatal(err)
	}
	cd2, err := ParseClientData(back.UserData)
	if err != nil {
		t.Fatal(err)
	}
	core2, _ := cd2.Core()
	net2, _ := cd2.Network()
	if core2.ServerSelectedProtocol != 2 || core2.EarlyCapabilityFlags&CSEarlyCapSupportDynVCGFXProtocol != 0 ||
		core2.EarlyCapabilityFlags != 0x04E3 || len(net2.Channels) != 3 || net2.Find("cliprdr") != -1 || net2.Find("DRDYNVC") != 3-1 {
		t.Fatalf("after rewrite: core %+v, channels %+v", core2, net2.Channels)
	}
	// The blocks nobody touched are the same bytes.
	for _, typ := range []uint16{CSCluster, CSSecurity, CSMCSMsgChannel, CSMultitransport} {
		if !bytes.Equal(cd2.Find(typ).Data, cd.Find(typ).Data) {
			t.Fatalf("%s changed", BlockName(typ))
		}
	}

	rin := readGolden(t, "freerdp-xrdp-tls.conference-create-response.bin")
	resp, err := ParseConferenceCreateResponse(rin)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ParseServerData(resp.UserData)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := sd.Core()
	sc.SetClientRequestedProtocols(1)
	sc.SetEarlyCapabilityFlags(SCEarlyCapSkipChannelJoinSupported) // grows the block by 4
	if err := sd.SetCore(sc); err != nil {
		t.Fatal(err)
	}
	if resp.UserData, err = sd.Marshal(); err != nil {
		t.Fatal(err)
	}
	rout, err := resp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// The constant ConnectPDU length stays; xrdp's two-octet user data length form stays.
	if rout[7] != 0x2A || !bytes.Equal(rout[21:23], []byte{0x80, 0x2C}) || len(rout) != len(rin)+4 {
		t.Fatalf("rewritten response\n%s", hex.Dump(rout))
	}
	rback, err := ParseConferenceCreateResponse(rout)
	if err != nil {
		t.Fatal(err)
	}
	sd2, err := ParseServerData(rback.UserData)
	if err != nil {
		t.Fatal(err)
	}
	sc2, _ := sd2.Core()
	if sc2.ClientRequestedProtocols != 1 || sc2.EarlyCapabilityFlags != SCEarlyCapSkipChannelJoinSupported || sc2.Size() != 12 {
		t.Fatalf("after rewrite: %+v", sc2)
	}
}

func TestClientCoreOptionalFields(t *testing.T) {
	golden := readGolden(t, "freerdp-xrdp-tls.conference-create-request.bin")
	req, err := ParseConferenceCreateRequest(golden)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := ParseClientData(req.UserData)
	if err != nil {
		t.Fatal(err)
	}
	full := cd.Find(CSCore).Data
	// The block may end after any optional field, or inside one; bytes after the last known
	// field are kept.
	for _, n := range []int{128, 130, 131, 141, 142, 206, 207, 208, 210, 212, 229, 230, 231, 240} {
		data := append(bytes.Clone(full), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)[:n]
		c, err := ParseClientCore(data)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		out, err := c.Marshal()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("%d bytes: re-marshal %d bytes, %v", n, len(out), err)
		}
		if c.HasEarlyCapabilityFlags() != (n >= 142) || c.HasServerSelectedProtocol() != (n >= 212) || c.HasConnectionType() != (n >= 207) {
			t.Fatalf("%d bytes: presence wrong", n)
		}
		if n < 212 {
			// Setting serverSelectedProtocol extends the block up to it.
			c.SetServerSelectedProtocol(8)
			out, err := c.Marshal()
			if err != nil || len(out) != 212 || binary.LittleEndian.Uint32(out[208:]) != 8 || !bytes.Equal(out[:min(n, 208)], data[:min(n, 208)]) {
				t.Fatalf("%d bytes: extended to %d, %v", n, len(out), err)
			}
		}
	}
	if _, err := ParseClientCore(full[:127]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short core: err = %v", err)
	}
	// A core built from scratch has every field.
	c := &ClientCore{Version: 0x00080004, DesktopWidth: 1920, DesktopHeight: 1080}
	if err := c.SetName("proxy-host"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetName("a-name-longer-than-15"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long name: err = %v", err)
	}
	out, err := c.Marshal()
	if err != nil || len(out) != ClientCoreLen {
		t.Fatalf("fresh core: %d bytes, %v", len(out), err)
	}
	back, err := ParseClientCore(out)
	if err != nil || back.Name() != "proxy-host" || back.DesktopWidth != 1920 || back.IMEName() != "" {
		t.Fatalf("fresh core back: %+v, %v", back, err)
	}
	c.Trailing = []byte{1}
	c.size = 200
	if _, err := c.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("trailing after a short body: err = %v", err)
	}
	var nilCore *ClientCore
	if _, err := nilCore.Marshal(); !errors.Is(err, ErrInvalid) || nilCore.Size() != 0 {
		t.Fatalf("nil core: err = %v", err)
	}
}

func TestChannels(t *testing.T) {
	d, err := NewChannelDef("cliprdr", ChannelOptionInitialized)
	if err != nil || d.NameString() != "cliprdr" || !d.Is("CLIPRDR") || d.Is("cliprd") {
		t.Fatalf("NewChannelDef: %+v, %v", d, err)
	}
	for _, bad := range []string{"", "toolongname", "a b", "é"} {
		if _, err := NewChannelDef(bad, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewChannelDef(%q): err = %v", bad, err)
		}
	}
	full := ChannelDef{Name: [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}}
	if full.NameString() != "abcdefgh" {
		t.Fatalf("unterminated name %q", full.NameString())
	}
	n := &ClientNetwork{}
	for _, name := range []string{"rdpdr", "rdpsnd", "cliprdr", "drdynvc"} {
		c, _ := NewChannelDef(name, 0)
		n.Channels = append(n.Channels, c)
	}
	removed := n.Filter(func(c ChannelDef) bool { return !c.Is(ChannelDevices) && !c.Is(ChannelSound) })
	if len(removed) != 2 || len(n.Channels) != 2 || n.Channels[0].NameString() != "cliprdr" {
		t.Fatalf("filter: kept %+v removed %+v", n.Channels, removed)
	}
	data, err := n.Marshal()
	if err != nil || len(data) != 4+2*12 {
		t.Fatalf("marshal: %d, %v", len(data), err)
	}
	n.Channels = make([]ChannelDef, MaxChannels+1)
	if _, err := n.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("too many channels: err = %v", err)
	}
	too := binary.LittleEndian.AppendUint32(nil, MaxChannels+1)
	too = append(too, make([]byte, 12*(MaxChannels+1))...)
	if _, err := ParseClientNetwork(too); !errors.Is(err, ErrMalformed) {
		t.Fatalf("parse too many channels: err = %v", err)
	}
	if _, err := ParseClientNetwork([]byte{2, 0, 0, 0, 'a', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("parse short channels: err = %v", err)
	}
}

func TestServerBlocks(t *testing.T) {
	tests := map[string]struct {
		hex  string
		ids  []uint16
		tail string
	}{
		"even":               {"eb030200ec03ed03", []uint16{1004, 1005}, ""},
		"odd with padding":   {"eb030100ec030000", []uint16{1004}, ""},
		"odd without pad":    {"eb030100ec03", []uint16{1004}, ""},
		"odd with odd pad":   {"eb030100ec03ffff", []uint16{1004}, ""},
		"odd, one byte left": {"eb030100ec0300", []uint16{1004}, "00"},
		"even with trailing": {"eb030000aabb", []uint16{}, "aabb"},
		"none":               {"eb030000", []uint16{}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := unhex(t, tc.hex)
			n, err := ParseServerNetwork(in)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if n.MCSChannelID != 1003 || !reflect.DeepEqual(n.ChannelIDs, tc.ids) || hex.EncodeToString(n.Trailing) != tc.tail {
				t.Fatalf("parsed %+v", n)
			}
			out, err := n.Marshal()
			if err != nil || !bytes.Equal(out, in) {
				t.Fatalf("re-marshal %x, %v", out, err)
			}
		})
	}
	fresh := &ServerNetwork{MCSChannelID: 1003, ChannelIDs: []uint16{1004, 1005, 1006}}
	if out, err := fresh.Marshal(); err != nil || hex.EncodeToString(out) != "eb030300ec03ed03ee030000" {
		t.Fatalf("fresh SC_NET %x, %v", out, err)
	}
	for _, bad := range []string{"eb03", "eb030200ec03", "eb032000"} {
		if _, err := ParseServerNetwork(unhex(t, bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseServerNetwork(%s): err = %v", bad, err)
		}
	}

	// Standard RDP security: method, level, random and certificate.
	sec := unhex(t, "02000000020000000400000003000000aabbccdd112233")
	s, err := ParseServerSecurity(sec)
	if err != nil || s.EncryptionMethod != EncryptionMethod128Bit || s.EncryptionLevel != EncryptionLevelClientCompatible ||
		!bytes.Equal(s.ServerRandom, unhex(t, "aabbccdd")) || !bytes.Equal(s.ServerCertificate, unhex(t, "112233")) {
		t.Fatalf("security %+v, %v", s, err)
	}
	if out, err := s.Marshal(); err != nil || !bytes.Equal(out, sec) {
		t.Fatalf("security re-marshal %x, %v", out, err)
	}
	empty := unhex(t, "00000000000000000000000000000000ee")
	if s, err := ParseServerSecurity(empty); err != nil || s.ServerRandom == nil || len(s.ServerRandom) != 0 || !bytes.Equal(s.Trailing, []byte{0xEE}) {
		t.Fatalf("zero-length keys: %+v, %v", s, err)
	} else if out, err := s.Marshal(); err != nil || !bytes.Equal(out, empty) {
		t.Fatalf("zero-length keys re-marshal %x, %v", out, err)
	}
	for _, bad := range []string{"00000000", "000000000000000000", "0000000000000000ffffffff00000000"} {
		if _, err := ParseServerSecurity(unhex(t, bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseServerSecurity(%s): err = %v", bad, err)
		}
	}
	if _, err := (&ServerSecurity{Trailing: []byte{1}}).Marshal(); !errors.Is(err, ErrInvalid) {
		t.Errorf("trailing without keys: err = %v", err)
	}

	core, err := ParseServerCore(unhex(t, "04000800"))
	if err != nil || core.HasClientRequestedProtocols() || core.Size() != 4 {
		t.Fatalf("4-byte SC_CORE: %+v, %v", core, err)
	}
	core.SetClientRequestedProtocols(3)
	if out, err := core.Marshal(); err != nil || hex.EncodeToString(out) != "0400080003000000" {
		t.Fatalf("extended SC_CORE %x, %v", out, err)
	}
	long := unhex(t, "0c0008000300000000000000ff")
	if core, err := ParseServerCore(long); err != nil || !bytes.Equal(core.Trailing, []byte{0xFF}) {
		t.Fatalf("SC_CORE with trailing: %+v, %v", core, err)
	} else if out, _ := core.Marshal(); !bytes.Equal(out, long) {
		t.Fatalf("SC_CORE with trailing re-marshal %x", out)
	}
	if _, err := ParseServerCore([]byte{1, 2, 3}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short SC_CORE: err = %v", err)
	}
}

func TestBlocksMalformed(t *testing.T) {
	core := append([]byte{0x01, 0xC0, 0x84, 0x00}, make([]byte, 128)...)
	for name, in := range map[string][]byte{
		"short header":     {0x01, 0xC0, 0x04},
		"length below 4":   {0x06, 0xC0, 0x03, 0x00},
		"length too long":  {0x06, 0xC0, 0x09, 0x00, 0, 0, 0, 0},
		"duplicate type":   {0x06, 0xC0, 0x04, 0x00, 0x06, 0xC0, 0x04, 0x00},
		"short core":       {0x01, 0xC0, 0x08, 0x00, 0, 0, 0, 0},
		"short security":   {0x02, 0xC0, 0x08, 0x00, 0, 0, 0, 0},
		"short net":        {0x03, 0xC0, 0x04, 0x00},
		"short cluster":    {0x04, 0xC0, 0x05, 0x00, 0},
		"trailing garbage": append(bytes.Clone(core), 0),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseClientData(in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseClientData: err = %v", err)
			}
		})
	}
	if _, err := ParseServerData([]byte{0x02, 0x0C, 0x05, 0x00, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short SC_SECURITY: err = %v", err)
	}
	var many []byte
	for i := range MaxBlocks + 1 {
		many = append(many, byte(i), 0x10, 0x04, 0x00)
	}
	if _, err := ParseClientData(many); !errors.Is(err, ErrMalformed) {
		t.Fatalf("too many blocks: err = %v", err)
	}
	if _, err := ParseClientData(make([]byte, MaxUserDataLen+1)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("too long: err = %v", err)
	}

	// Absent blocks, nil receivers, duplicates on marshal.
	cd, err := ParseClientData(core)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cd.Network(); !errors.Is(err, ErrNoBlock) {
		t.Fatalf("absent CS_NET: err = %v", err)
	}
	if err := cd.SetNetwork(&ClientNetwork{}); err != nil || cd.Blocks[1].Type != CSNet {
		t.Fatalf("SetNetwork appends: %v %+v", err, cd.Blocks)
	}
	if !cd.Remove(CSNet) || cd.Remove(CSNet) || len(cd.Blocks) != 1 {
		t.Fatalf("Remove: %+v", cd.Blocks)
	}
	cd.Blocks = append(cd.Blocks, cd.Blocks[0])
	if _, err := cd.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate on marshal: err = %v", err)
	}
	var nilCD *ClientData
	if _, err := nilCD.Core(); !errors.Is(err, ErrNoBlock) {
		t.Fatalf("nil client data: err = %v", err)
	}
	if err := nilCD.SetCore(&ClientCore{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil client data set: err = %v", err)
	}
	var nilSD *ServerData
	if _, err := nilSD.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil server data: err = %v", err)
	}
	big := &ClientData{Blocks: []Block{{Type: CSMonitor, Data: make([]byte, 0xFFFF)}}}
	if _, err := big.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversized block: err = %v", err)
	}
	if BlockName(CSMonitorEx) != "CS_MONITOR_EX" || BlockName(0x1234) != "0x1234" {
		t.Fatal("BlockName")
	}
}

func TestConferenceMalformed(t *testing.T) {
	req := readGolden(t, "freerdp-xrdp-tls.conference-create-request.bin")
	resp := readGolden(t, "freerdp-xrdp-tls.conference-create-response.bin")
	mod := func(b []byte, off int, v byte) []byte {
		c := bytes.Clone(b)
		c[off] = v
		return c
	}
	for name, in := range map[string][]byte{
		"empty":              nil,
		"key choice":         mod(req, 0, 1),
		"other OID":          mod(req, 3, 0x15),
		"create response":    mod(req, 9, 0x14),
		"other options":      mod(req, 10, 0x0C),
		"bad name digit":     mod(req, 12, 0xA0),
		"two sets":           mod(req, 14, 2),
		"object key":         mod(req, 15, 0x80),
		"cut user data":      req[:len(req)-1],
		"trailing byte":      append(bytes.Clone(req), 0),
		"cut in connect PDU": req[:9],
	} {
		t.Run("request "+name, func(t *testing.T) {
			if _, err := ParseConferenceCreateRequest(in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	for name, in := range map[string][]byte{
		"request choice": mod(resp, 8, 0x00),
		"node overflow":  mod(resp, 9, 0xFF),
		"bad tag length": mod(resp, 11, 0),
		"result 16":      mod(resp, 13, 16),
		"cut":            resp[:20],
	} {
		t.Run("response "+name, func(t *testing.T) {
			if _, err := ParseConferenceCreateResponse(in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	var nilReq *ConferenceCreateRequest
	if _, err := nilReq.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil request: err = %v", err)
	}
	var nilResp *ConferenceCreateResponse
	if _, err := nilResp.Marshal(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil response: err = %v", err)
	}
	for name, r := range map[string]*ConferenceCreateRequest{
		"name with letters": {ConferenceName: "x"},
		"short key":         {H221Key: "abc"},
		"huge user data":    {UserData: make([]byte, MaxUserDataLen+1)},
	} {
		if _, err := r.Marshal(); !errors.Is(err, ErrInvalid) {
			t.Errorf("request %s: err = %v", name, err)
		}
	}
	for name, r := range map[string]*ConferenceCreateResponse{
		"node below 1001": {NodeID: 1000},
		"result 16":       {NodeID: 1001, Result: 16},
	} {
		if _, err := r.Marshal(); !errors.Is(err, ErrInvalid) {
			t.Errorf("response %s: err = %v", name, err)
		}
	}
	// A changed value is encoded canonically, the rest kept.
	r, err := ParseConferenceCreateRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	r.ConferenceName = "123"
	out, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConferenceCreateRequest(out)
	if err != nil || back.ConferenceName != "123" || !bytes.Equal(back.UserData, r.UserData) || len(out) != len(req)+1 {
		t.Fatalf("renamed: %+v, %v", back, err)
	}
}

func checkClientData(t *testing.T, b []byte) {
	cd, err := ParseClientData(b)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		return
	}
	out, err := cd.Marshal()
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("re-marshal: %v\n%x\n%x", err, out, b)
	}
	// Decoding and re-encoding every typed view changes nothing.
	if c, err := cd.Core(); err == nil {
		if err := cd.SetCore(c); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := cd.Security(); err == nil {
		if err := cd.SetSecurity(s); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := cd.Network(); err == nil {
		if err := cd.SetNetwork(n); err != nil {
			t.Fatal(err)
		}
		n.Remove(ChannelClipboard)
		if data, err := n.Marshal(); err != nil {
			t.Fatal(err)
		} else if back, err := ParseClientNetwork(data); err != nil || !reflect.DeepEqual(back, n) {
			t.Fatalf("filtered network round trip: %+v, %v", back, err)
		}
	}
	if c, err := cd.Cluster(); err == nil {
		if err := cd.SetCluster(c); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := cd.Marshal(); err != nil || !bytes.Equal(out, b) {
		t.Fatalf("typed views changed the data: %v", err)
	}
}

func checkServerData(t *testing.T, b []byte) {
	sd, err := ParseServerData(b)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v does not wrap ErrMalformed", err)
		}
		return
	}
	out, err := sd.Marshal()
	if err != nil || !bytes.Equal(out, b) {
		t.Fatalf("re-marshal: %v", err)
	}
	if c, err := sd.Core(); err == nil {
		if err := sd.SetCore(c); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := sd.Security(); err == nil {
		if err := sd.SetSecurity(s); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := sd.Network(); err == nil {
		if err := sd.SetNetwork(n); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := sd.Marshal(); err != nil || !bytes.Equal(out, b) {
		t.Fatalf("typed views changed the data: %v", err)
	}
}

func FuzzParseClientData(f *testing.F) {
	f.Add([]byte{0x06, 0xC0, 0x08, 0x00, 0, 0, 0, 0})
	f.Fuzz(checkClientData)
}

func FuzzParseServerData(f *testing.F) {
	f.Add([]byte{0x03, 0x0C, 0x0A, 0x00, 0xEB, 0x03, 0x01, 0x00, 0xEC, 0x03})
	f.Fuzz(checkServerData)
}

func FuzzParseConferenceCreateRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := ParseConferenceCreateRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := req.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-marshal: %v\n%x\n%x", err, out, b)
		}
		checkClientData(t, req.UserData)
		// Grow the user data: every length that was right stays right.
		req.UserData = append(bytes.Clone(req.UserData), 0x06, 0xC0, 0x04, 0x00)
		out, err = req.Marshal()
		if err != nil {
			if errors.Is(err, ErrInvalid) {
				return // grown past a limit
			}
			t.Fatal(err)
		}
		back, err := ParseConferenceCreateRequest(out)
		if err != nil || back.ConferenceName != req.ConferenceName || back.H221Key != req.H221Key || !bytes.Equal(back.UserData, req.UserData) {
			t.Fatalf("grown request: %+v, %v", back, err)
		}
		// An exact length is recomputed and stays exact; a constant one is kept as sent (it
		// may happen to equal the grown length, which then reads as exact).
		switch {
		case len(req.UserData) >= 0x3000:
		case req.enc.exact && !back.enc.exact:
			t.Fatal("an exact connect PDU length was not recomputed")
		case !req.enc.exact && back.enc.connectPDULen != req.enc.connectPDULen:
			t.Fatalf("a constant connect PDU length %d became %d", req.enc.connectPDULen, back.enc.connectPDULen)
		}
	})
}

func FuzzParseConferenceCreateResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, err := ParseConferenceCreateResponse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := resp.Marshal()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("re-marshal: %v\n%x\n%x", err, out, b)
		}
		checkServerData(t, resp.UserData)
		resp.Tag++
		resp.UserData = resp.UserData[:len(resp.UserData)/2]
		out, err = resp.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConferenceCreateResponse(out)
		if err != nil || back.Tag != resp.Tag || back.NodeID != resp.NodeID || back.Result != resp.Result ||
			back.H221Key != resp.H221Key || !bytes.Equal(back.UserData, resp.UserData) {
			t.Fatalf("changed response: %+v, %v", back, err)
		}
	})
}
