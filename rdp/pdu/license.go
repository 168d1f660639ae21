package pdu

import "fmt"

// Licensing message types (MS-RDPBCGR 2.2.1.12.1.1, bMsgType).
const (
	LicenseRequest                   uint8 = 0x01 // LICENSE_REQUEST
	LicensePlatformChallenge         uint8 = 0x02 // PLATFORM_CHALLENGE
	LicenseNewLicense                uint8 = 0x03 // NEW_LICENSE
	LicenseUpgradeLicense            uint8 = 0x04 // UPGRADE_LICENSE
	LicenseInfo                      uint8 = 0x12 // LICENSE_INFO
	LicenseNewLicenseRequest         uint8 = 0x13 // NEW_LICENSE_REQUEST
	LicensePlatformChallengeResponse uint8 = 0x15 // PLATFORM_CHALLENGE_RESPONSE
	LicenseErrorAlert                uint8 = 0xFF // ERROR_ALERT

	// LicensePreambleVersionMask masks the version in bFlags (PREAMBLE_VERSION_2_0 = 2,
	// PREAMBLE_VERSION_3_0 = 3); LicenseExtendedErrorMsgSupported is the other defined flag.
	LicensePreambleVersionMask       uint8 = 0x0F
	LicenseExtendedErrorMsgSupported uint8 = 0x80 // EXTENDED_ERROR_MSG_SUPPORTED

	// Error codes and state transitions of LICENSE_ERROR_MESSAGE (2.2.1.12.1.3).
	LicenseStatusValidClient uint32 = 0x00000007 // STATUS_VALID_CLIENT
	LicenseStNoTransition    uint32 = 0x00000002 // ST_NO_TRANSITION

	licensePreambleLength = 4
)

// LicensePDU is a licensing PDU (MS-RDPBCGR 2.2.1.12): the security header with SecLicensePkt
// and the licensing preamble. The proxy relays licensing; it needs to recognise the message,
// above all the server's "valid client" error alert that ends the licensing phase.
type LicensePDU struct {
	Security SecurityHeader
	MsgType  uint8
	Flags    uint8
	// Body is the message after the preamble (wMsgSize minus 4 bytes). It aliases the input.
	Body []byte
}

// ParseLicensePDU parses the user data of an MCS Send Data PDU carrying a licensing PDU. The
// preamble's wMsgSize must count exactly the preamble and the bytes after it.
func ParseLicensePDU(b []byte) (*LicensePDU, error) {
	sec, rest, err := ParseSecurityHeader(b)
	if err != nil {
		return nil, fmt.Errorf("license: %w", err)
	}
	if sec.Flags&SecLicensePkt == 0 {
		return nil, malformed("license: security flags 0x%04x lack SEC_LICENSE_PKT", sec.Flags)
	}
	if len(rest) < licensePreambleLength {
		return nil, malformed("license: preamble needs %d bytes, have %d", licensePreambleLength, len(rest))
	}
	r := reader{b: rest}
	l := &LicensePDU{Security: sec, MsgType: r.u8(""), Flags: r.u8("")}
	if size := int(r.u16("")); size != len(rest) {
		return nil, malformed("license: wMsgSize %d, message has %d bytes", size, len(rest))
	}
	l.Body = r.rest()
	return l, nil
}

// Marshal returns the PDU with wMsgSize recomputed.
func (l *LicensePDU) Marshal() ([]byte, error) {
	if l == nil {
		return nil, invalid("nil LicensePDU")
	}
	n := licensePreambleLength + len(l.Body)
	if n > 0xFFFF {
		return nil, invalid("license: message of %d bytes", n)
	}
	if l.Security.Flags&SecLicensePkt == 0 || l.Security.Flags&SecEncrypt != 0 {
		return nil, invalid("license: security flags 0x%04x need SEC_LICENSE_PKT and no SEC_ENCRYPT", l.Security.Flags)
	}
	out := make([]byte, 0, securityHeaderLength+n)
	out = l.Security.Append(out)
	out = append(out, l.MsgType, l.Flags)
	out = le16(out, uint16(n))
	return append(out, l.Body...), nil
}

// ErrorAlert returns the error code and state transition of an ERROR_ALERT message.
func (l *LicensePDU) ErrorAlert() (code, transition uint32, ok bool) {
	if l == nil || l.MsgType != LicenseErrorAlert || len(l.Body) < 8 {
		return 0, 0, false
	}
	r := reader{b: l.Body}
	return r.u32(""), r.u32(""), true
}

// IsValidClient reports whether the PDU is the server's "valid client" message
// (ERROR_ALERT with STATUS_VALID_CLIENT and ST_NO_TRANSITION), which ends licensing.
func (l *LicensePDU) IsValidClient() bool {
	code, transition, ok := l.ErrorAlert()
	return ok && code == LicenseStatusValidClient && transition == LicenseStNoTransition
}

// LicenseMsgTypeName names a licensing message type.
func LicenseMsgTypeName(t uint8) string {
	switch t {
	case LicenseRequest:
		return "License Request"
	case LicensePlatformChallenge:
		return "Platform Challenge"
	case LicenseNewLicense:
		return "New License"
	case LicenseUpgradeLicense:
		return "Upgrade License"
	case LicenseInfo:
		return "License Info"
	case LicenseNewLicenseRequest:
		return "New License Request"
	case LicensePlatformChallengeResponse:
		return "Platform Challenge Response"
	case LicenseErrorAlert:
		return "Error Alert"
	default:
		return fmt.Sprintf("licensing message 0x%02x", t)
	}
}
