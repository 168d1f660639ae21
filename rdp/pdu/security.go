package pdu

// Security header flags (MS-RDPBCGR 2.2.8.1.1.2.1, TS_SECURITY_HEADER flags).
const (
	SecExchangePkt       uint16 = 0x0001 // SEC_EXCHANGE_PKT
	SecTransportReq      uint16 = 0x0002 // SEC_TRANSPORT_REQ
	SecTransportRsp      uint16 = 0x0004 // RDP_SEC_TRANSPORT_RSP
	SecEncrypt           uint16 = 0x0008 // SEC_ENCRYPT
	SecResetSeqno        uint16 = 0x0010 // SEC_RESET_SEQNO
	SecIgnoreSeqno       uint16 = 0x0020 // SEC_IGNORE_SEQNO
	SecInfoPkt           uint16 = 0x0040 // SEC_INFO_PKT: Client Info PDU
	SecLicensePkt        uint16 = 0x0080 // SEC_LICENSE_PKT: licensing PDU
	SecLicenseEncryptCS  uint16 = 0x0200 // SEC_LICENSE_ENCRYPT_CS (and SEC_LICENSE_ENCRYPT_SC)
	SecRedirectionPkt    uint16 = 0x0400 // SEC_REDIRECTION_PKT
	SecSecureChecksum    uint16 = 0x0800 // SEC_SECURE_CHECKSUM
	SecAutodetectReq     uint16 = 0x1000 // SEC_AUTODETECT_REQ
	SecAutodetectRsp     uint16 = 0x2000 // SEC_AUTODETECT_RSP
	SecHeartbeat         uint16 = 0x4000 // SEC_HEARTBEAT
	SecFlagsHiValid      uint16 = 0x8000 // SEC_FLAGSHI_VALID
	securityHeaderLength        = 4
)

// SecurityHeader is the basic security header, TS_SECURITY_HEADER (MS-RDPBCGR 2.2.8.1.1.2.1).
// With TLS or CredSSP (Enhanced RDP Security) it is the only form that occurs, and only in
// front of the Client Info PDU, licensing PDUs and a few other PDUs named by its flags.
type SecurityHeader struct {
	Flags uint16
	// FlagsHi is kept as sent. It carries meaning only when Flags has SecFlagsHiValid; xrdp
	// 0.9 writes the licensing message size there.
	FlagsHi uint16
}

// ParseSecurityHeader reads a basic security header at the start of b and returns it with the
// bytes that follow (aliasing b). A header with SecEncrypt set belongs to standard RDP security
// (its MAC follows) and is refused with ErrUnsupported.
func ParseSecurityHeader(b []byte) (SecurityHeader, []byte, error) {
	if len(b) < securityHeaderLength {
		return SecurityHeader{}, nil, malformed("security header needs %d bytes, have %d", securityHeaderLength, len(b))
	}
	r := reader{b: b}
	h := SecurityHeader{Flags: r.u16("flags"), FlagsHi: r.u16("flagsHi")}
	if h.Flags&SecEncrypt != 0 {
		return SecurityHeader{}, nil, errUnsupportedEncrypted()
	}
	return h, r.rest(), nil
}

// Append appends the header to dst.
func (h SecurityHeader) Append(dst []byte) []byte {
	return le16(le16(dst, h.Flags), h.FlagsHi)
}

func errUnsupportedEncrypted() error {
	return wrapUnsupported("SEC_ENCRYPT is set: standard RDP security is not supported")
}
