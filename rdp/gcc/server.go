package gcc

import (
	"bytes"
	"encoding/binary"
)

// Server early capability flags (TS_UD_SC_CORE earlyCapabilityFlags).
const (
	SCEarlyCapEdgeActionsSupportedV1   uint32 = 0x00000001 // RNS_UD_SC_EDGE_ACTIONS_SUPPORTED_V1
	SCEarlyCapDynamicDSTSupported      uint32 = 0x00000002 // RNS_UD_SC_DYNAMIC_DST_SUPPORTED
	SCEarlyCapEdgeActionsSupportedV2   uint32 = 0x00000004 // RNS_UD_SC_EDGE_ACTIONS_SUPPORTED_V2
	SCEarlyCapSkipChannelJoinSupported uint32 = 0x00000008 // RNS_UD_SC_SKIP_CHANNELJOIN_SUPPORTED
)

// Encryption levels (TS_UD_SC_SEC1 encryptionLevel).
const (
	EncryptionLevelNone             uint32 = 0 // ENCRYPTION_LEVEL_NONE
	EncryptionLevelLow              uint32 = 1 // ENCRYPTION_LEVEL_LOW
	EncryptionLevelClientCompatible uint32 = 2 // ENCRYPTION_LEVEL_CLIENT_COMPATIBLE
	EncryptionLevelHigh             uint32 = 3 // ENCRYPTION_LEVEL_HIGH
	EncryptionLevelFIPS             uint32 = 4 // ENCRYPTION_LEVEL_FIPS
)

const (
	// ServerCoreMinLen is the length of the mandatory part of an SC_CORE body (version).
	ServerCoreMinLen = 4
	// ServerCoreLen is the length of an SC_CORE body with every field.
	ServerCoreLen = 12

	scCoreEndClientRequestedProtocols = 8
	scCoreEndEarlyCapabilityFlags     = 12
)

// ServerCore is TS_UD_SC_CORE (MS-RDPBCGR 2.2.1.4.2), the body of an SC_CORE block.
//
// clientRequestedProtocols and earlyCapabilityFlags are optional on the wire; as for
// ClientCore, Marshal writes the parsed length and the Set methods extend it.
type ServerCore struct {
	Version uint32
	// ClientRequestedProtocols echoes the requestedProtocols of the client's X.224 Connection
	// Request; clients check it against what they sent.
	ClientRequestedProtocols uint32
	EarlyCapabilityFlags     uint32 // SCEarlyCap* flags
	// Trailing holds the bytes after the known fields.
	Trailing []byte

	size int // 0 means ServerCoreLen
}

// ParseServerCore decodes the body of an SC_CORE block.
func ParseServerCore(data []byte) (*ServerCore, error) {
	if len(data) < ServerCoreMinLen {
		return nil, malformed("SC_CORE body of %d bytes, at least %d", len(data), ServerCoreMinLen)
	}
	var full [ServerCoreLen]byte
	n := copy(full[:], data)
	c := &ServerCore{
		Version:                  binary.LittleEndian.Uint32(full[0:]),
		ClientRequestedProtocols: binary.LittleEndian.Uint32(full[4:]),
		EarlyCapabilityFlags:     binary.LittleEndian.Uint32(full[8:]),
		size:                     n,
	}
	if len(data) > ServerCoreLen {
		c.Trailing = bytes.Clone(data[ServerCoreLen:])
	}
	return c, nil
}

// Size returns the length of the encoded body without Trailing.
func (c *ServerCore) Size() int {
	if c == nil {
		return 0
	}
	if c.size == 0 {
		return ServerCoreLen
	}
	return c.size
}

// Marshal encodes the body of an SC_CORE block.
func (c *ServerCore) Marshal() ([]byte, error) {
	if c == nil {
		return nil, invalid("nil ServerCore")
	}
	size := c.Size()
	if size < ServerCoreMinLen || size > ServerCoreLen {
		return nil, invalid("SC_CORE length %d, want %d to %d", size, ServerCoreMinLen, ServerCoreLen)
	}
	if len(c.Trailing) > 0 && size != ServerCoreLen {
		return nil, invalid("SC_CORE trailing bytes after a %d-byte body", size)
	}
	b := make([]byte, ServerCoreLen, ServerCoreLen+len(c.Trailing))
	binary.LittleEndian.PutUint32(b[0:], c.Version)
	binary.LittleEndian.PutUint32(b[4:], c.ClientRequestedProtocols)
	binary.LittleEndian.PutUint32(b[8:], c.EarlyCapabilityFlags)
	return append(b[:size], c.Trailing...), nil
}

func (c *ServerCore) grow(end int) {
	if c != nil && c.size != 0 && c.size < end {
		c.size = end
	}
}

// HasClientRequestedProtocols reports whether the encoded body includes
// clientRequestedProtocols.
func (c *ServerCore) HasClientRequestedProtocols() bool {
	return c.Size() >= scCoreEndClientRequestedProtocols
}

// HasEarlyCapabilityFlags reports whether the encoded body includes earlyCapabilityFlags.
func (c *ServerCore) HasEarlyCapabilityFlags() bool {
	return c.Size() >= scCoreEndEarlyCapabilityFlags
}

// SetClientRequestedProtocols sets clientRequestedProtocols, extending the body to include it.
func (c *ServerCore) SetClientRequestedProtocols(p uint32) {
	c.ClientRequestedProtocols = p
	c.grow(scCoreEndClientRequestedProtocols)
}

// SetEarlyCapabilityFlags sets earlyCapabilityFlags, extending the body to include it.
func (c *ServerCore) SetEarlyCapabilityFlags(f uint32) {
	c.EarlyCapabilityFlags = f
	c.grow(scCoreEndEarlyCapabilityFlags)
}

// ServerSecurity is TS_UD_SC_SEC1 (MS-RDPBCGR 2.2.1.4.3), the body of an SC_SECURITY block.
// With TLS or CredSSP, method and level are zero and neither server random nor certificate is
// sent (ServerRandom and ServerCertificate are nil).
type ServerSecurity struct {
	EncryptionMethod uint32 // one EncryptionMethod* value
	EncryptionLevel  uint32 // EncryptionLevel*
	// ServerRandom and ServerCertificate are present (non-nil, possibly empty) when the body
	// carries serverRandomLen and serverCertLen.
	ServerRandom      []byte
	ServerCertificate []byte
	// Trailing holds the bytes after the certificate.
	Trailing []byte
}

// ParseServerSecurity decodes the body of an SC_SECURITY block: 8 bytes, or 16 or more with
// the server random and certificate.
func ParseServerSecurity(data []byte) (*ServerSecurity, error) {
	if len(data) < 8 {
		return nil, malformed("SC_SECURITY body of %d bytes, at least 8", len(data))
	}
	s := &ServerSecurity{
		EncryptionMethod: binary.LittleEndian.Uint32(data[0:]),
		EncryptionLevel:  binary.LittleEndian.Uint32(data[4:]),
	}
	if len(data) == 8 {
		return s, nil
	}
	if len(data) < 16 {
		return nil, malformed("SC_SECURITY body of %d bytes: 8, or at least 16 with keys", len(data))
	}
	rl := binary.LittleEndian.Uint32(data[8:])
	cl := binary.LittleEndian.Uint32(data[12:])
	rest := data[16:]
	if uint64(rl)+uint64(cl) > uint64(len(rest)) {
		return nil, malformed("SC_SECURITY server random (%d) and certificate (%d) longer than the %d bytes left", rl, cl, len(rest))
	}
	s.ServerRandom = append([]byte{}, rest[:rl]...)
	s.ServerCertificate = append([]byte{}, rest[rl:rl+cl]...)
	if r := rest[rl+cl:]; len(r) > 0 {
		s.Trailing = bytes.Clone(r)
	}
	return s, nil
}

// Marshal encodes the body of an SC_SECURITY block.
func (s *ServerSecurity) Marshal() ([]byte, error) {
	if s == nil {
		return nil, invalid("nil ServerSecurity")
	}
	keys := s.ServerRandom != nil || s.ServerCertificate != nil
	if !keys && len(s.Trailing) > 0 {
		return nil, invalid("SC_SECURITY trailing bytes without server random and certificate")
	}
	b := make([]byte, 0, 16+len(s.ServerRandom)+len(s.ServerCertificate)+len(s.Trailing))
	b = binary.LittleEndian.AppendUint32(b, s.EncryptionMethod)
	b = binary.LittleEndian.AppendUint32(b, s.EncryptionLevel)
	if !keys {
		return b, nil
	}
	if n := 16 + len(s.ServerRandom) + len(s.ServerCertificate) + len(s.Trailing); n > 0xFFFF-BlockHeaderLen {
		return nil, invalid("SC_SECURITY body of %d bytes", n)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.ServerRandom)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s.ServerCertificate)))
	b = append(b, s.ServerRandom...)
	b = append(b, s.ServerCertificate...)
	return append(b, s.Trailing...), nil
}

// ServerNetwork is TS_UD_SC_NET (MS-RDPBCGR 2.2.1.4.4), the body of an SC_NET block: the I/O
// channel and one MCS channel ID per channel of the client's CS_NET, in the same order.
type ServerNetwork struct {
	MCSChannelID uint16 // the I/O channel, 1003 from Windows, xrdp and FreeRDP
	ChannelIDs   []uint16
	// Trailing holds the bytes after the IDs and their padding.
	Trailing []byte

	// pad is the 2-byte padding that follows an odd number of IDs, as parsed; padOmitted
	// records a peer that left it out. A new ServerNetwork writes zero padding.
	pad        []byte
	padOmitted bool
}

// ParseServerNetwork decodes the body of an SC_NET block.
func ParseServerNetwork(data []byte) (*ServerNetwork, error) {
	if len(data) < 4 {
		return nil, malformed("SC_NET body of %d bytes, at least 4", len(data))
	}
	count := int(binary.LittleEndian.Uint16(data[2:]))
	if count > MaxChannels {
		return nil, malformed("SC_NET with %d channel IDs, at most %d", count, MaxChannels)
	}
	need := 4 + 2*count
	if len(data) < need {
		return nil, malformed("SC_NET with %d channel IDs needs %d bytes, has %d", count, need, len(data))
	}
	n := &ServerNetwork{
		MCSChannelID: binary.LittleEndian.Uint16(data[0:]),
		ChannelIDs:   make([]uint16, count),
	}
	for i := range n.ChannelIDs {
		n.ChannelIDs[i] = binary.LittleEndian.Uint16(data[4+2*i:])
	}
	rest := data[need:]
	if count%2 == 1 {
		if len(rest) >= 2 {
			n.pad = bytes.Clone(rest[:2])
			rest = rest[2:]
		} else {
			n.padOmitted = true
		}
	}
	if len(rest) > 0 {
		n.Trailing = bytes.Clone(rest)
	}
	return n, nil
}

// Marshal encodes the body of an SC_NET block, with 2 bytes of padding after an odd number of
// channel IDs.
func (n *ServerNetwork) Marshal() ([]byte, error) {
	if n == nil {
		return nil, invalid("nil ServerNetwork")
	}
	if len(n.ChannelIDs) > MaxChannels {
		return nil, invalid("%d channel IDs, at most %d", len(n.ChannelIDs), MaxChannels)
	}
	b := make([]byte, 0, 6+2*len(n.ChannelIDs)+len(n.Trailing))
	b = binary.LittleEndian.AppendUint16(b, n.MCSChannelID)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(n.ChannelIDs)))
	for _, id := range n.ChannelIDs {
		b = binary.LittleEndian.AppendUint16(b, id)
	}
	if len(n.ChannelIDs)%2 == 1 {
		switch {
		case n.pad != nil:
			b = append(b, n.pad...)
		case !n.padOmitted:
			b = append(b, 0, 0)
		}
	}
	return append(b, n.Trailing...), nil
}
