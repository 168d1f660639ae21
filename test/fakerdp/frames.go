package fakerdp

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/gcc"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/rdp/x224"
)

// Channel numbering of the fake target, as xrdp numbers them: the I/O channel is 1003, the
// static virtual channels follow it, and the user (the Attach User Confirm's initiator) gets the
// first id after them, 1008 with FreeRDP's four default channels.
const (
	IOChannel     uint16 = 1003
	firstVChannel uint16 = 1004
)

// defaultChannels are the channels of a built Connect Initial: what FreeRDP asks for with
// default settings.
func defaultChannels() []string {
	return []string{gcc.ChannelDevices, gcc.ChannelSound, gcc.ChannelDynamic, gcc.ChannelClipboard}
}

// ConnectInitial builds an MCS Connect Initial frame as a FreeRDP client sends it for a
// 1024×768 desktop after the server selected TLS, asking for channels (FreeRDP's default set
// when nil).
func ConnectInitial(channels []string) ([]byte, error) {
	if channels == nil {
		channels = defaultChannels()
	}
	core := &gcc.ClientCore{
		Version: 0x00080004, DesktopWidth: 1024, DesktopHeight: 768, ColorDepth: 0xCA01,
		SASSequence: 0xAA03, KeyboardLayout: 0x409, ClientBuild: 2600, KeyboardType: 4,
		KeyboardFunctionKey: 12, PostBeta2ColorDepth: 0xCA01, ClientProductID: 1,
		HighColorDepth: 24, SupportedColorDepths: 0x000F,
		EarlyCapabilityFlags:   gcc.CSEarlyCapSupportErrInfoPDU | gcc.CSEarlyCapWant32BPPSession | gcc.CSEarlyCapValidConnectionType,
		ConnectionType:         gcc.ConnectionTypeLAN,
		ServerSelectedProtocol: x224.ProtocolSSL,
	}
	if err := core.SetName("fakerdp"); err != nil {
		return nil, err
	}
	coreBody, err := core.Marshal()
	if err != nil {
		return nil, err
	}
	sec, err := (&gcc.ClientSecurity{}).Marshal()
	if err != nil {
		return nil, err
	}
	network := &gcc.ClientNetwork{}
	for _, name := range channels {
		def, err := gcc.NewChannelDef(name, gcc.ChannelOptionInitialized)
		if err != nil {
			return nil, err
		}
		network.Channels = append(network.Channels, def)
	}
	netBody, err := network.Marshal()
	if err != nil {
		return nil, err
	}
	cd := &gcc.ClientData{Blocks: []gcc.Block{{Type: gcc.CSCore, Data: coreBody}, {Type: gcc.CSSecurity, Data: sec}, {Type: gcc.CSNet, Data: netBody}}}
	ud, err := cd.Marshal()
	if err != nil {
		return nil, err
	}
	req, err := (&gcc.ConferenceCreateRequest{ConferenceName: gcc.DefaultConferenceName, H221Key: gcc.ClientH221Key, UserData: ud}).Marshal()
	if err != nil {
		return nil, err
	}
	ci := &mcs.ConnectInitial{
		CallingDomainSelector: []byte{1}, CalledDomainSelector: []byte{1}, UpwardFlag: true,
		TargetParameters:  mcs.DomainParameters{MaxChannelIDs: 34, MaxUserIDs: 2, MaxTokenIDs: 0, NumPriorities: 1, MinThroughput: 0, MaxHeight: 1, MaxMCSPDUSize: 65535, ProtocolVersion: 2},
		MinimumParameters: mcs.DomainParameters{MaxChannelIDs: 1, MaxUserIDs: 1, MaxTokenIDs: 1, NumPriorities: 1, MinThroughput: 0, MaxHeight: 1, MaxMCSPDUSize: 1056, ProtocolVersion: 2},
		MaximumParameters: mcs.DomainParameters{MaxChannelIDs: 65535, MaxUserIDs: 64535, MaxTokenIDs: 65535, NumPriorities: 1, MinThroughput: 0, MaxHeight: 1, MaxMCSPDUSize: 65535, ProtocolVersion: 2},
		UserData:          req,
	}
	return ci.Marshal()
}

// connectResponse answers a Connect Initial frame like xrdp does: TLS, no RDP encryption, the
// I/O channel 1003 and one channel id per requested channel from 1004 on. It returns the
// frame and the number of virtual channels.
func connectResponse(connectInitial []byte, requested uint32) ([]byte, []uint16, error) {
	_, p, err := mcs.ReadPDU(connectInitial)
	if err != nil {
		return nil, nil, err
	}
	ci, ok := p.(*mcs.ConnectInitial)
	if !ok {
		return nil, nil, fmt.Errorf("fakerdp: %s instead of a Connect Initial", p.Type())
	}
	_, cd, err := ci.ClientData()
	if err != nil {
		return nil, nil, err
	}
	var count int
	if network, err := cd.Network(); err == nil {
		count = len(network.Channels)
	}
	ids := make([]uint16, count)
	for i := range ids {
		ids[i] = firstVChannel + uint16(i)
	}
	core, err := (&gcc.ServerCore{Version: 0x00080004, ClientRequestedProtocols: requested}).Marshal()
	if err != nil {
		return nil, nil, err
	}
	sec, err := (&gcc.ServerSecurity{}).Marshal()
	if err != nil {
		return nil, nil, err
	}
	netBody, err := (&gcc.ServerNetwork{MCSChannelID: IOChannel, ChannelIDs: ids}).Marshal()
	if err != nil {
		return nil, nil, err
	}
	sd := &gcc.ServerData{Blocks: []gcc.Block{{Type: gcc.SCCore, Data: core}, {Type: gcc.SCSecurity, Data: sec}, {Type: gcc.SCNet, Data: netBody}}}
	ud, err := sd.Marshal()
	if err != nil {
		return nil, nil, err
	}
	resp, err := (&gcc.ConferenceCreateResponse{NodeID: 0x79F3, Tag: 1, H221Key: gcc.ServerH221Key, UserData: ud}).Marshal()
	if err != nil {
		return nil, nil, err
	}
	cr := &mcs.ConnectResponse{
		Result:           mcs.ResultSuccessful,
		DomainParameters: mcs.DomainParameters{MaxChannelIDs: 34, MaxUserIDs: 3, MaxTokenIDs: 0, NumPriorities: 1, MinThroughput: 0, MaxHeight: 1, MaxMCSPDUSize: 65528, ProtocolVersion: 2},
		UserData:         resp,
	}
	frame, err := cr.Marshal()
	return frame, ids, err
}

// ClientInfo builds the user data of a Client Info PDU (basic security header with
// SEC_INFO_PKT, then TS_INFO_PACKET) as FreeRDP sends it, with the given credentials.
func ClientInfo(domain, user, password string) ([]byte, error) {
	info := &pdu.ClientInfo{
		CodePage: 0x0409,
		Flags: pdu.InfoMouse | pdu.InfoDisableCtrlAltDel | pdu.InfoUnicode | pdu.InfoMaximizeShell |
			pdu.InfoLogonNotify | pdu.InfoEnableWindowsKey | pdu.InfoLogonErrors | pdu.InfoMouseHasWheel,
		Extended: &pdu.ExtendedInfo{ClientAddressFamily: pdu.AFInet, ClientDir: utf16z(`C:\Windows\System32\mstscax.dll`)},
	}
	defer info.ZeroPassword()
	if err := info.Extended.SetClientAddress("127.0.0.1"); err != nil {
		return nil, err
	}
	if err := info.SetDomain(domain); err != nil {
		return nil, err
	}
	if err := info.SetUserName(user); err != nil {
		return nil, err
	}
	if password != "" {
		info.SetAutologon(true)
		if err := info.SetPassword(password); err != nil {
			return nil, err
		}
	}
	return info.MarshalPDU(pdu.SecurityHeader{Flags: pdu.SecInfoPkt})
}

func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

// demandActive builds the Demand Active PDU (the user data of a Send Data Indication on the I/O
// channel) with a General capability set that announces fast-path output.
func demandActive() ([]byte, error) {
	general := (&pdu.GeneralCapability{OSMajorType: 4, OSMinorType: 7, ProtocolVersion: 0x0200,
		ExtraFlags: pdu.FastPathOutputSupported | pdu.LongCredentialsSupported | pdu.NoBitmapCompressionHdr}).Capability()
	da := &pdu.DemandActive{
		Control:          pdu.ShareControlHeader{PDUType: uint16(pdu.PDUTypeDemandActive) | pdu.ProtocolVersion, PDUSource: IOChannel - 1},
		ShareID:          0x103EA,
		SourceDescriptor: []byte("RDP\x00"),
		Capabilities:     pdu.CapabilitySets{general},
		HasSessionID:     true,
	}
	return da.Marshal()
}

// DataFrame builds an MCS Send Data Request frame (TPKT, X.224 Data, MCS header) from the user
// initiator on channel carrying payload: a slow-path PDU as a client sends it.
func DataFrame(initiator, channel uint16, payload []byte) ([]byte, error) {
	return (&mcs.SendDataRequest{SendData: mcs.SendData{Initiator: initiator, ChannelID: channel,
		Priority: mcs.PriorityHigh, Segmentation: mcs.SegmentationWhole, Data: payload}}).Marshal()
}

// FastPathInput builds a fast-path input PDU of n bytes in all (n from 4 to 0x7FFF) holding
// one keyboard event and padding, as a client sends keystrokes.
func FastPathInput(n int) ([]byte, error) {
	if n < 4 {
		return nil, fmt.Errorf("fakerdp: a fast-path input PDU needs at least 4 bytes, not %d", n)
	}
	header := 2
	if n > 0x7F {
		header = 3
	}
	events := make([]byte, max(n-header, 0))
	events[0] = 0x00 // FASTPATH_INPUT_EVENT_SCANCODE, key down
	if len(events) > 1 {
		events[1] = 0x1E // 'A'
	}
	p := &fastpath.InputPDU{NumEvents: 1, LongLength: header == 3, Events: events}
	b, err := p.Marshal()
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("fakerdp: fast-path input of %d bytes, wanted %d", len(b), n)
	}
	return b, nil
}

// DataPDU builds a slow-path Share Data PDU of n bytes in all (n from 18 to 0xFFFF) from the
// MCS user source: Share Control Header (type PDUTYPE_DATAPDU, totalLength n), Share Data Header
// (pduType2 PDUTYPE2_REFRESH_RECT, as a harmless type) and zeros, as the payload of a Send Data
// Request on the I/O channel.
func DataPDU(n int, source uint16) ([]byte, error) {
	const headers = 6 + 12
	if n < headers || n > 0xFFFF {
		return nil, fmt.Errorf("fakerdp: a share data PDU of %d bytes (from %d to 65535)", n, headers)
	}
	b := make([]byte, 0, n)
	b, err := pdu.ShareControlHeader{PDUType: uint16(pdu.PDUTypeData) | pdu.ProtocolVersion, PDUSource: source}.Append(b, n-6)
	if err != nil {
		return nil, err
	}
	b = pdu.ShareDataHeader{ShareID: 0x103EA, StreamID: pdu.StreamLow, UncompressedLength: uint16(n - 14), PDUType2: pdu.PDUType2RefreshRect}.Append(b)
	return b[:n], nil
}
