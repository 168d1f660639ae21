package gcc

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf16"
)

// Client early capability flags (TS_UD_CS_CORE earlyCapabilityFlags).
const (
	CSEarlyCapSupportErrInfoPDU        uint16 = 0x0001 // RNS_UD_CS_SUPPORT_ERRINFO_PDU
	CSEarlyCapWant32BPPSession         uint16 = 0x0002 // RNS_UD_CS_WANT_32BPP_SESSION
	CSEarlyCapSupportStatusInfoPDU     uint16 = 0x0004 // RNS_UD_CS_SUPPORT_STATUSINFO_PDU
	CSEarlyCapStrongAsymmetricKeys     uint16 = 0x0008 // RNS_UD_CS_STRONG_ASYMMETRIC_KEYS
	CSEarlyCapRelativeMouseInput       uint16 = 0x0010 // RNS_UD_CS_RELATIVE_MOUSE_INPUT
	CSEarlyCapValidConnectionType      uint16 = 0x0020 // RNS_UD_CS_VALID_CONNECTION_TYPE
	CSEarlyCapSupportMonitorLayoutPDU  uint16 = 0x0040 // RNS_UD_CS_SUPPORT_MONITOR_LAYOUT_PDU
	CSEarlyCapSupportNetcharAutodetect uint16 = 0x0080 // RNS_UD_CS_SUPPORT_NETCHAR_AUTODETECT
	CSEarlyCapSupportDynVCGFXProtocol  uint16 = 0x0100 // RNS_UD_CS_SUPPORT_DYNVC_GFX_PROTOCOL
	CSEarlyCapSupportDynamicTimeZone   uint16 = 0x0200 // RNS_UD_CS_SUPPORT_DYNAMIC_TIME_ZONE
	CSEarlyCapSupportHeartbeatPDU      uint16 = 0x0400 // RNS_UD_CS_SUPPORT_HEARTBEAT_PDU
	CSEarlyCapSupportSkipChannelJoin   uint16 = 0x0800 // RNS_UD_CS_SUPPORT_SKIP_CHANNELJOIN
)

// Connection types (TS_UD_CS_CORE connectionType).
const (
	ConnectionTypeModem         uint8 = 0x01 // CONNECTION_TYPE_MODEM
	ConnectionTypeBroadbandLow  uint8 = 0x02 // CONNECTION_TYPE_BROADBAND_LOW
	ConnectionTypeSatellite     uint8 = 0x03 // CONNECTION_TYPE_SATELLITE
	ConnectionTypeBroadbandHigh uint8 = 0x04 // CONNECTION_TYPE_BROADBAND_HIGH
	ConnectionTypeWAN           uint8 = 0x05 // CONNECTION_TYPE_WAN
	ConnectionTypeLAN           uint8 = 0x06 // CONNECTION_TYPE_LAN
	ConnectionTypeAutodetect    uint8 = 0x07 // CONNECTION_TYPE_AUTODETECT
)

// Encryption methods (TS_UD_CS_SEC encryptionMethods, TS_UD_SC_SEC1 encryptionMethod).
const (
	EncryptionMethodNone   uint32 = 0x00000000 // ENCRYPTION_METHOD_NONE
	EncryptionMethod40Bit  uint32 = 0x00000001 // ENCRYPTION_METHOD_40BIT
	EncryptionMethod128Bit uint32 = 0x00000002 // ENCRYPTION_METHOD_128BIT
	EncryptionMethod56Bit  uint32 = 0x00000008 // ENCRYPTION_METHOD_56BIT
	EncryptionMethodFIPS   uint32 = 0x00000010 // ENCRYPTION_METHOD_FIPS
)

// Channel options (CHANNEL_DEF options).
const (
	ChannelOptionInitialized             uint32 = 0x80000000 // CHANNEL_OPTION_INITIALIZED
	ChannelOptionEncryptRDP              uint32 = 0x40000000 // CHANNEL_OPTION_ENCRYPT_RDP
	ChannelOptionEncryptSC               uint32 = 0x20000000 // CHANNEL_OPTION_ENCRYPT_SC
	ChannelOptionEncryptCS               uint32 = 0x10000000 // CHANNEL_OPTION_ENCRYPT_CS
	ChannelOptionPriHigh                 uint32 = 0x08000000 // CHANNEL_OPTION_PRI_HIGH
	ChannelOptionPriMed                  uint32 = 0x04000000 // CHANNEL_OPTION_PRI_MED
	ChannelOptionPriLow                  uint32 = 0x02000000 // CHANNEL_OPTION_PRI_LOW
	ChannelOptionCompressRDP             uint32 = 0x00800000 // CHANNEL_OPTION_COMPRESS_RDP
	ChannelOptionCompress                uint32 = 0x00400000 // CHANNEL_OPTION_COMPRESS
	ChannelOptionShowProtocol            uint32 = 0x00200000 // CHANNEL_OPTION_SHOW_PROTOCOL
	ChannelOptionRemoteControlPersistent uint32 = 0x00100000 // REMOTE_CONTROL_PERSISTENT
)

// Static virtual channel names a proxy's policy usually acts on.
const (
	ChannelClipboard = "cliprdr" // clipboard redirection (MS-RDPECLIP)
	ChannelDevices   = "rdpdr"   // drive, printer, smart card, port redirection (MS-RDPEFS)
	ChannelSound     = "rdpsnd"  // audio output (MS-RDPEA)
	ChannelDynamic   = "drdynvc" // dynamic virtual channels (MS-RDPEDYC), GFX among them
)

// Cluster flags (TS_UD_CS_CLUSTER flags).
const (
	ClusterRedirectionSupported          uint32 = 0x00000001 // REDIRECTION_SUPPORTED
	ClusterRedirectedSessionIDFieldValid uint32 = 0x00000002 // REDIRECTED_SESSIONID_FIELD_VALID
	ClusterRedirectionVersionMask        uint32 = 0x0000003C // ServerSessionRedirectionVersionMask
	ClusterRedirectedSmartcard           uint32 = 0x00000040 // REDIRECTED_SMARTCARD
)

const (
	// MaxChannels is the largest number of static virtual channels (CS_NET channelCount).
	MaxChannels = 31

	// ClientCoreMinLen is the length of the mandatory part of a CS_CORE body (version to
	// imeFileName).
	ClientCoreMinLen = 128
	// ClientCoreLen is the length of a CS_CORE body with every field this package knows
	// (through deviceScaleFactor).
	ClientCoreLen = 230

	// End offsets, in the CS_CORE body, of the optional fields with Has methods.
	coreEndEarlyCapabilityFlags   = 142
	coreEndConnectionType         = 207
	coreEndServerSelectedProtocol = 212

	channelDefLen = 12
	clientNameLen = 32
)

// ClientCore is TS_UD_CS_CORE (MS-RDPBCGR 2.2.1.3.2), the body of a CS_CORE block.
//
// Every field after IMEFileName is optional on the wire: the block may end after any of them
// (or even inside one). ParseClientCore remembers where it ended; Marshal writes the same
// length, so fields beyond it are not written whatever their value. SetServerSelectedProtocol
// and SetEarlyCapabilityFlags extend the encoded length (filling the fields in between with
// their current values, zero unless set) when the field was absent. A ClientCore built from
// scratch encodes every field. Bytes after the last known field are kept in Trailing.
type ClientCore struct {
	Version             uint32 // RDP version: 0x00080004 (RDP 4.0) to 0x00080011 (10.12)
	DesktopWidth        uint16
	DesktopHeight       uint16
	ColorDepth          uint16   // RNS_UD_COLOR_*, superseded by the optional fields
	SASSequence         uint16   // RNS_UD_SAS_DEL (0xAA03)
	KeyboardLayout      uint32   // input locale identifier, e.g. 0x409
	ClientBuild         uint32   // build number of the client
	ClientName          [32]byte // UTF-16LE, NUL terminated; see Name and SetName
	KeyboardType        uint32
	KeyboardSubType     uint32
	KeyboardFunctionKey uint32
	IMEFileName         [64]byte // UTF-16LE, NUL terminated

	PostBeta2ColorDepth    uint16
	ClientProductID        uint16
	SerialNumber           uint32
	HighColorDepth         uint16
	SupportedColorDepths   uint16
	EarlyCapabilityFlags   uint16 // CSEarlyCap* flags
	ClientDigProductID     [64]byte
	ConnectionType         uint8 // ConnectionType*, valid with CSEarlyCapValidConnectionType
	Pad1Octet              uint8
	ServerSelectedProtocol uint32 // the protocol the server selected in its X.224 Connection Confirm
	DesktopPhysicalWidth   uint32
	DesktopPhysicalHeight  uint32
	DesktopOrientation     uint16
	DesktopScaleFactor     uint32
	DeviceScaleFactor      uint32

	// Trailing holds the bytes after DeviceScaleFactor, written back as they are.
	Trailing []byte

	// size is the encoded body length up to ClientCoreLen; 0 means ClientCoreLen.
	size int
}

// ParseClientCore decodes the body of a CS_CORE block.
func ParseClientCore(data []byte) (*ClientCore, error) {
	if len(data) < ClientCoreMinLen {
		return nil, malformed("CS_CORE body of %d bytes, at least %d", len(data), ClientCoreMinLen)
	}
	var full [ClientCoreLen]byte
	n := copy(full[:], data)
	b := full[:]
	le := binary.LittleEndian
	c := &ClientCore{
		Version:                le.Uint32(b[0:]),
		DesktopWidth:           le.Uint16(b[4:]),
		DesktopHeight:          le.Uint16(b[6:]),
		ColorDepth:             le.Uint16(b[8:]),
		SASSequence:            le.Uint16(b[10:]),
		KeyboardLayout:         le.Uint32(b[12:]),
		ClientBuild:            le.Uint32(b[16:]),
		KeyboardType:           le.Uint32(b[52:]),
		KeyboardSubType:        le.Uint32(b[56:]),
		KeyboardFunctionKey:    le.Uint32(b[60:]),
		PostBeta2ColorDepth:    le.Uint16(b[128:]),
		ClientProductID:        le.Uint16(b[130:]),
		SerialNumber:           le.Uint32(b[132:]),
		HighColorDepth:         le.Uint16(b[136:]),
		SupportedColorDepths:   le.Uint16(b[138:]),
		EarlyCapabilityFlags:   le.Uint16(b[140:]),
		ConnectionType:         b[206],
		Pad1Octet:              b[207],
		ServerSelectedProtocol: le.Uint32(b[208:]),
		DesktopPhysicalWidth:   le.Uint32(b[212:]),
		DesktopPhysicalHeight:  le.Uint32(b[216:]),
		DesktopOrientation:     le.Uint16(b[220:]),
		DesktopScaleFactor:     le.Uint32(b[222:]),
		DeviceScaleFactor:      le.Uint32(b[226:]),
		size:                   n,
	}
	copy(c.ClientName[:], b[20:52])
	copy(c.IMEFileName[:], b[64:128])
	copy(c.ClientDigProductID[:], b[142:206])
	if len(data) > ClientCoreLen {
		c.Trailing = bytes.Clone(data[ClientCoreLen:])
	}
	return c, nil
}

// Marshal encodes the body of a CS_CORE block.
func (c *ClientCore) Marshal() ([]byte, error) {
	if c == nil {
		return nil, invalid("nil ClientCore")
	}
	size := c.Size()
	if size < ClientCoreMinLen || size > ClientCoreLen {
		return nil, invalid("CS_CORE length %d, want %d to %d", size, ClientCoreMinLen, ClientCoreLen)
	}
	if len(c.Trailing) > 0 && size != ClientCoreLen {
		return nil, invalid("CS_CORE trailing bytes after a %d-byte body", size)
	}
	b := make([]byte, ClientCoreLen, ClientCoreLen+len(c.Trailing))
	le := binary.LittleEndian
	le.PutUint32(b[0:], c.Version)
	le.PutUint16(b[4:], c.DesktopWidth)
	le.PutUint16(b[6:], c.DesktopHeight)
	le.PutUint16(b[8:], c.ColorDepth)
	le.PutUint16(b[10:], c.SASSequence)
	le.PutUint32(b[12:], c.KeyboardLayout)
	le.PutUint32(b[16:], c.ClientBuild)
	copy(b[20:52], c.ClientName[:])
	le.PutUint32(b[52:], c.KeyboardType)
	le.PutUint32(b[56:], c.KeyboardSubType)
	le.PutUint32(b[60:], c.KeyboardFunctionKey)
	copy(b[64:128], c.IMEFileName[:])
	le.PutUint16(b[128:], c.PostBeta2ColorDepth)
	le.PutUint16(b[130:], c.ClientProductID)
	le.PutUint32(b[132:], c.SerialNumber)
	le.PutUint16(b[136:], c.HighColorDepth)
	le.PutUint16(b[138:], c.SupportedColorDepths)
	le.PutUint16(b[140:], c.EarlyCapabilityFlags)
	copy(b[142:206], c.ClientDigProductID[:])
	b[206] = c.ConnectionType
	b[207] = c.Pad1Octet
	le.PutUint32(b[208:], c.ServerSelectedProtocol)
	le.PutUint32(b[212:], c.DesktopPhysicalWidth)
	le.PutUint32(b[216:], c.DesktopPhysicalHeight)
	le.PutUint16(b[220:], c.DesktopOrientation)
	le.PutUint32(b[222:], c.DesktopScaleFactor)
	le.PutUint32(b[226:], c.DeviceScaleFactor)
	return append(b[:size], c.Trailing...), nil
}

// Size returns the length of the encoded body without Trailing: what was parsed, or
// ClientCoreLen for a ClientCore built from scratch.
func (c *ClientCore) Size() int {
	if c == nil {
		return 0
	}
	if c.size == 0 {
		return ClientCoreLen
	}
	return c.size
}

func (c *ClientCore) grow(end int) {
	if c != nil && c.size != 0 && c.size < end {
		c.size = end
	}
}

func (c *ClientCore) has(end int) bool { return c.Size() >= end }

// HasEarlyCapabilityFlags reports whether the encoded body includes earlyCapabilityFlags.
func (c *ClientCore) HasEarlyCapabilityFlags() bool { return c.has(coreEndEarlyCapabilityFlags) }

// HasConnectionType reports whether the encoded body includes connectionType.
func (c *ClientCore) HasConnectionType() bool { return c.has(coreEndConnectionType) }

// HasServerSelectedProtocol reports whether the encoded body includes serverSelectedProtocol.
func (c *ClientCore) HasServerSelectedProtocol() bool {
	return c.has(coreEndServerSelectedProtocol)
}

// SetEarlyCapabilityFlags sets earlyCapabilityFlags, extending the body to include it.
func (c *ClientCore) SetEarlyCapabilityFlags(f uint16) {
	c.EarlyCapabilityFlags = f
	c.grow(coreEndEarlyCapabilityFlags)
}

// SetServerSelectedProtocol sets serverSelectedProtocol, extending the body to include it.
func (c *ClientCore) SetServerSelectedProtocol(p uint32) {
	c.ServerSelectedProtocol = p
	c.grow(coreEndServerSelectedProtocol)
}

// Name returns the client name (clientName up to its NUL).
func (c *ClientCore) Name() string { return decodeUTF16(c.ClientName[:]) }

// SetName sets the client name; it must fit in 15 UTF-16 code units.
func (c *ClientCore) SetName(name string) error {
	u := utf16.Encode([]rune(name))
	if len(u) > clientNameLen/2-1 {
		return invalid("client name of %d UTF-16 code units, at most %d", len(u), clientNameLen/2-1)
	}
	c.ClientName = [32]byte{}
	for i, v := range u {
		binary.LittleEndian.PutUint16(c.ClientName[2*i:], v)
	}
	return nil
}

// IMEName returns the IME file name (imeFileName up to its NUL).
func (c *ClientCore) IMEName() string { return decodeUTF16(c.IMEFileName[:]) }

func decodeUTF16(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		v := binary.LittleEndian.Uint16(b[i:])
		if v == 0 {
			break
		}
		u = append(u, v)
	}
	return string(utf16.Decode(u))
}

// ClientSecurity is TS_UD_CS_SEC (MS-RDPBCGR 2.2.1.3.3), the body of a CS_SECURITY block.
// With TLS or CredSSP both fields are zero.
type ClientSecurity struct {
	EncryptionMethods    uint32 // EncryptionMethod* flags
	ExtEncryptionMethods uint32 // French locale only
	// Trailing holds the bytes after the known fields.
	Trailing []byte
}

// ParseClientSecurity decodes the body of a CS_SECURITY block.
func ParseClientSecurity(data []byte) (*ClientSecurity, error) {
	if len(data) < 8 {
		return nil, malformed("CS_SECURITY body of %d bytes, at least 8", len(data))
	}
	s := &ClientSecurity{
		EncryptionMethods:    binary.LittleEndian.Uint32(data[0:]),
		ExtEncryptionMethods: binary.LittleEndian.Uint32(data[4:]),
	}
	if len(data) > 8 {
		s.Trailing = bytes.Clone(data[8:])
	}
	return s, nil
}

// Marshal encodes the body of a CS_SECURITY block.
func (s *ClientSecurity) Marshal() ([]byte, error) {
	if s == nil {
		return nil, invalid("nil ClientSecurity")
	}
	b := make([]byte, 0, 8+len(s.Trailing))
	b = binary.LittleEndian.AppendUint32(b, s.EncryptionMethods)
	b = binary.LittleEndian.AppendUint32(b, s.ExtEncryptionMethods)
	return append(b, s.Trailing...), nil
}

// ChannelDef is CHANNEL_DEF (MS-RDPBCGR 2.2.1.3.4.1): a static virtual channel request.
type ChannelDef struct {
	// Name is the channel name: up to 7 ANSI characters and a NUL, as sent.
	Name    [8]byte
	Options uint32 // ChannelOption* flags
}

// NewChannelDef returns a channel definition; name must be 1 to 7 printable ASCII characters.
func NewChannelDef(name string, options uint32) (ChannelDef, error) {
	if len(name) == 0 || len(name) > 7 {
		return ChannelDef{}, invalid("channel name %q: want 1 to 7 characters", name)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7E {
			return ChannelDef{}, invalid("channel name %q: byte 0x%02x is not printable ASCII", name, name[i])
		}
	}
	d := ChannelDef{Options: options}
	copy(d.Name[:], name)
	return d, nil
}

// NameString returns the channel name up to its NUL.
func (d ChannelDef) NameString() string {
	if i := bytes.IndexByte(d.Name[:], 0); i >= 0 {
		return string(d.Name[:i])
	}
	return string(d.Name[:])
}

// Is reports whether the channel is called name, ignoring ASCII case, so that "CLIPRDR" cannot
// slip past a policy written for "cliprdr" (xrdp, for one, compares names without case).
func (d ChannelDef) Is(name string) bool {
	return strings.EqualFold(d.NameString(), name)
}

// ClientNetwork is TS_UD_CS_NET (MS-RDPBCGR 2.2.1.3.4), the body of a CS_NET block: the
// static virtual channels the client asks for. The server answers with one MCS channel ID per
// channel, in the same order, in SC_NET.
type ClientNetwork struct {
	Channels []ChannelDef
	// Trailing holds the bytes after the channel definitions.
	Trailing []byte
}

// ParseClientNetwork decodes the body of a CS_NET block.
func ParseClientNetwork(data []byte) (*ClientNetwork, error) {
	if len(data) < 4 {
		return nil, malformed("CS_NET body of %d bytes, at least 4", len(data))
	}
	count := binary.LittleEndian.Uint32(data)
	if count > MaxChannels {
		return nil, malformed("CS_NET asks for %d channels, at most %d", count, MaxChannels)
	}
	need := 4 + int(count)*channelDefLen
	if len(data) < need {
		return nil, malformed("CS_NET with %d channels needs %d bytes, has %d", count, need, len(data))
	}
	n := &ClientNetwork{Channels: make([]ChannelDef, count)}
	for i := range n.Channels {
		p := data[4+i*channelDefLen:]
		copy(n.Channels[i].Name[:], p[:8])
		n.Channels[i].Options = binary.LittleEndian.Uint32(p[8:])
	}
	if len(data) > need {
		n.Trailing = bytes.Clone(data[need:])
	}
	return n, nil
}

// Marshal encodes the body of a CS_NET block.
func (n *ClientNetwork) Marshal() ([]byte, error) {
	if n == nil {
		return nil, invalid("nil ClientNetwork")
	}
	if len(n.Channels) > MaxChannels {
		return nil, invalid("%d channels, at most %d", len(n.Channels), MaxChannels)
	}
	b := make([]byte, 0, 4+len(n.Channels)*channelDefLen+len(n.Trailing))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(n.Channels)))
	for _, c := range n.Channels {
		b = append(b, c.Name[:]...)
		b = binary.LittleEndian.AppendUint32(b, c.Options)
	}
	return append(b, n.Trailing...), nil
}

// Filter keeps the channels for which keep returns true, in order, and returns the others.
func (n *ClientNetwork) Filter(keep func(ChannelDef) bool) (removed []ChannelDef) {
	kept := n.Channels[:0:0]
	for _, c := range n.Channels {
		if keep(c) {
			kept = append(kept, c)
		} else {
			removed = append(removed, c)
		}
	}
	n.Channels = kept
	return removed
}

// Remove drops the channels with any of the given names (ASCII case ignored) and returns them.
func (n *ClientNetwork) Remove(names ...string) (removed []ChannelDef) {
	return n.Filter(func(c ChannelDef) bool {
		for _, name := range names {
			if c.Is(name) {
				return false
			}
		}
		return true
	})
}

// Find returns the index of the channel called name (ASCII case ignored), or -1.
func (n *ClientNetwork) Find(name string) int {
	for i, c := range n.Channels {
		if c.Is(name) {
			return i
		}
	}
	return -1
}

// ClientCluster is TS_UD_CS_CLUSTER (MS-RDPBCGR 2.2.1.3.5), the body of a CS_CLUSTER block.
type ClientCluster struct {
	Flags               uint32 // Cluster* flags and the redirection version
	RedirectedSessionID uint32 // valid with ClusterRedirectedSessionIDFieldValid
	// Trailing holds the bytes after the known fields.
	Trailing []byte
}

// ParseClientCluster decodes the body of a CS_CLUSTER block.
func ParseClientCluster(data []byte) (*ClientCluster, error) {
	if len(data) < 8 {
		return nil, malformed("CS_CLUSTER body of %d bytes, at least 8", len(data))
	}
	c := &ClientCluster{
		Flags:               binary.LittleEndian.Uint32(data[0:]),
		RedirectedSessionID: binary.LittleEndian.Uint32(data[4:]),
	}
	if len(data) > 8 {
		c.Trailing = bytes.Clone(data[8:])
	}
	return c, nil
}

// Marshal encodes the body of a CS_CLUSTER block.
func (c *ClientCluster) Marshal() ([]byte, error) {
	if c == nil {
		return nil, invalid("nil ClientCluster")
	}
	b := make([]byte, 0, 8+len(c.Trailing))
	b = binary.LittleEndian.AppendUint32(b, c.Flags)
	b = binary.LittleEndian.AppendUint32(b, c.RedirectedSessionID)
	return append(b, c.Trailing...), nil
}
