package ntlm

import (
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
)

// Signature starts every NTLM message.
const Signature = "NTLMSSP\x00"

// Message types (MS-NLMP 2.2.1).
const (
	TypeNegotiate    uint32 = 1
	TypeChallenge    uint32 = 2
	TypeAuthenticate uint32 = 3
)

const (
	negotiateLen       = 40 // with Version
	challengeMinLen    = 48 // without Version
	authenticateMinLen = 64 // without Version and MIC
	authenticateLen    = 88 // with Version and MIC
	authMICOffset      = 72
	authVersionOffset  = 64
)

// AVPair is one attribute of a TargetInfo list (MS-NLMP 2.2.2.1).
type AVPair struct {
	ID    uint16
	Value []byte
}

// Challenge is a parsed CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
type Challenge struct {
	Flags           uint32
	ServerChallenge [8]byte
	// TargetName is the server's realm (domain or server name), decoded from UTF-16LE.
	TargetName string
	// TargetInfo holds the AV pairs, MsvAvEOL excluded, in the order sent; nil when absent.
	TargetInfo []AVPair
	// Version is the VERSION structure when NTLMSSP_NEGOTIATE_VERSION is set and the header
	// has room for it.
	Version    [8]byte
	HasVersion bool
}

// Timestamp returns the MsvAvTimestamp value (a FILETIME) when the server sent one.
func (c *Challenge) Timestamp() (ts [8]byte, ok bool, err error) {
	for _, p := range c.TargetInfo {
		if p.ID != AvTimestamp {
			continue
		}
		if len(p.Value) != 8 {
			return ts, false, fmt.Errorf("%w: MsvAvTimestamp of %d bytes, want 8", ErrMalformed, len(p.Value))
		}
		copy(ts[:], p.Value)
		return ts, true, nil
	}
	return ts, false, nil
}

// AV returns the value of the first AV pair with id, and whether there is one.
func (c *Challenge) AV(id uint16) ([]byte, bool) {
	for _, p := range c.TargetInfo {
		if p.ID == id {
			return p.Value, true
		}
	}
	return nil, false
}

// NegotiateMessage is a parsed NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1).
type NegotiateMessage struct {
	Flags       uint32
	DomainName  string // OEM (ASCII) as sent, when supplied
	Workstation string // OEM (ASCII) as sent, when supplied
	Version     [8]byte
	HasVersion  bool
}

// AuthenticateMessage is a parsed AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3). Its responses let an
// offline attacker guess the password: never log them.
type AuthenticateMessage struct {
	Flags                     uint32
	LmChallengeResponse       []byte
	NtChallengeResponse       []byte
	DomainName                string
	UserName                  string
	Workstation               string
	EncryptedRandomSessionKey []byte
	Version                   [8]byte
	HasVersion                bool
	// MIC is the 16-byte message integrity code, nil when the header has no room for it.
	MIC []byte
}

// String summarises the message without its responses or keys.
func (m *AuthenticateMessage) String() string {
	if m == nil {
		return "ntlm.AuthenticateMessage(nil)"
	}
	return fmt.Sprintf("ntlm.AuthenticateMessage{flags: 0x%08x, domain: %q, user: %q, workstation: %q, nt response: %d bytes, MIC: %t}",
		m.Flags, m.DomainName, m.UserName, m.Workstation, len(m.NtChallengeResponse), m.MIC != nil)
}

// GoString is like String.
func (m *AuthenticateMessage) GoString() string { return m.String() }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// header checks the length limit, signature and type of a message.
func header(b []byte, typ uint32, minLen int, name string) error {
	if len(b) > MaxMessageLen {
		return malformed("%s of %d bytes, limit %d", name, len(b), MaxMessageLen)
	}
	if len(b) < minLen {
		return malformed("%s of %d bytes, at least %d needed", name, len(b), minLen)
	}
	if string(b[:8]) != Signature {
		return malformed("%s does not start with the NTLMSSP signature", name)
	}
	if t := le32(b[8:12]); t != typ {
		return malformed("message type %d where %s (%d) was expected", t, name, typ)
	}
	return nil
}

// field returns the bytes a (Len, MaxLen, BufferOffset) descriptor at b[at:] points to. An empty
// field yields nil whatever its offset.
func field(b []byte, at int, name string) ([]byte, error) {
	n := int(binary.LittleEndian.Uint16(b[at:]))
	off := int64(binary.LittleEndian.Uint32(b[at+4:]))
	if n == 0 {
		return nil, nil
	}
	if off+int64(n) > int64(len(b)) {
		return nil, malformed("%s field of %d bytes at offset %d runs past the %d-byte message", name, n, off, len(b))
	}
	return b[off : off+int64(n)], nil
}

// ParseChallenge parses a CHALLENGE_MESSAGE. The returned value does not alias b.
func ParseChallenge(b []byte) (*Challenge, error) {
	if err := header(b, TypeChallenge, challengeMinLen, "CHALLENGE_MESSAGE"); err != nil {
		return nil, err
	}
	c := &Challenge{Flags: le32(b[20:24])}
	copy(c.ServerChallenge[:], b[24:32])
	name, err := field(b, 12, "TargetName")
	if err != nil {
		return nil, err
	}
	if len(name)%2 != 0 {
		return nil, malformed("TargetName of odd length %d", len(name))
	}
	c.TargetName = decodeUTF16(name)
	info, err := field(b, 40, "TargetInfo")
	if err != nil {
		return nil, err
	}
	if info != nil {
		if c.TargetInfo, err = ParseAVPairs(info); err != nil {
			return nil, err
		}
	}
	if c.Flags&FlagVersion != 0 && len(b) >= challengeMinLen+8 {
		copy(c.Version[:], b[48:56])
		c.HasVersion = true
	}
	return c, nil
}

// ParseAVPairs parses a TargetInfo list, which must end with MsvAvEOL; bytes after it are
// ignored. The pairs returned exclude MsvAvEOL and do not alias b.
func ParseAVPairs(b []byte) ([]AVPair, error) {
	var out []AVPair
	for {
		if len(b) < 4 {
			return nil, malformed("AV pair list not terminated by MsvAvEOL (%d bytes left)", len(b))
		}
		id := binary.LittleEndian.Uint16(b[0:2])
		n := int(binary.LittleEndian.Uint16(b[2:4]))
		if id == AvEOL {
			return out, nil
		}
		if 4+n > len(b) {
			return nil, malformed("AV pair 0x%04x of %d bytes, only %d left", id, n, len(b)-4)
		}
		out = append(out, AVPair{ID: id, Value: clone(b[4 : 4+n])})
		b = b[4+n:]
	}
}

// MarshalAVPairs encodes pairs and appends MsvAvEOL. A pair with ID MsvAvEOL or a value longer
// than 65535 bytes is refused.
func MarshalAVPairs(pairs []AVPair) ([]byte, error) {
	n := 4
	for _, p := range pairs {
		if p.ID == AvEOL {
			return nil, fmt.Errorf("ntlm: MsvAvEOL inside an AV pair list")
		}
		if len(p.Value) > 0xFFFF {
			return nil, fmt.Errorf("ntlm: AV pair 0x%04x of %d bytes does not fit", p.ID, len(p.Value))
		}
		n += 4 + len(p.Value)
	}
	if n > MaxMessageLen {
		return nil, fmt.Errorf("ntlm: AV pair list of %d bytes, limit %d", n, MaxMessageLen)
	}
	out := make([]byte, 0, n)
	for _, p := range pairs {
		out = binary.LittleEndian.AppendUint16(out, p.ID)
		out = binary.LittleEndian.AppendUint16(out, uint16(len(p.Value)))
		out = append(out, p.Value...)
	}
	return append(out, 0, 0, 0, 0), nil
}

// marshalNegotiate builds a NEGOTIATE_MESSAGE without domain or workstation.
func marshalNegotiate(flags uint32) []byte {
	b := make([]byte, negotiateLen)
	copy(b, Signature)
	binary.LittleEndian.PutUint32(b[8:], TypeNegotiate)
	binary.LittleEndian.PutUint32(b[12:], flags)
	// DomainNameFields (16..24) and WorkstationFields (24..32) stay zero.
	v := clientVersion()
	copy(b[32:], v[:])
	return b
}

// ParseNegotiate parses a NEGOTIATE_MESSAGE.
func ParseNegotiate(b []byte) (*NegotiateMessage, error) {
	if err := header(b, TypeNegotiate, 32, "NEGOTIATE_MESSAGE"); err != nil {
		return nil, err
	}
	m := &NegotiateMessage{Flags: le32(b[12:16])}
	if m.Flags&FlagOEMDomainSupplied != 0 {
		d, err := field(b, 16, "DomainName")
		if err != nil {
			return nil, err
		}
		m.DomainName = string(d)
	}
	if m.Flags&FlagOEMWorkstationSupplied != 0 {
		w, err := field(b, 24, "Workstation")
		if err != nil {
			return nil, err
		}
		m.Workstation = string(w)
	}
	if m.Flags&FlagVersion != 0 && len(b) >= 40 {
		copy(m.Version[:], b[32:40])
		m.HasVersion = true
	}
	return m, nil
}

// marshalAuthenticate builds an AUTHENTICATE_MESSAGE with Version and a zero MIC; payload in the
// order domain, user, workstation, LM response, NT response, encrypted session key.
func marshalAuthenticate(flags uint32, lm, nt, domain, user, workstation, encKey []byte) ([]byte, error) {
	fields := [][]byte{lm, nt, domain, user, workstation, encKey}
	total := authenticateLen
	for _, f := range fields {
		if len(f) > 0xFFFF {
			return nil, fmt.Errorf("ntlm: AUTHENTICATE_MESSAGE field of %d bytes does not fit", len(f))
		}
		total += len(f)
	}
	if total > MaxMessageLen {
		return nil, fmt.Errorf("ntlm: AUTHENTICATE_MESSAGE of %d bytes, limit %d", total, MaxMessageLen)
	}
	b := make([]byte, authenticateLen, total)
	copy(b, Signature)
	binary.LittleEndian.PutUint32(b[8:], TypeAuthenticate)
	put := func(at int, v []byte) {
		binary.LittleEndian.PutUint16(b[at:], uint16(len(v)))
		binary.LittleEndian.PutUint16(b[at+2:], uint16(len(v)))
		binary.LittleEndian.PutUint32(b[at+4:], uint32(len(b)))
		b = append(b, v...)
	}
	// Descriptor positions: LM 12, NT 20, domain 28, user 36, workstation 44, key 52.
	put(28, domain)
	put(36, user)
	put(44, workstation)
	put(12, lm)
	put(20, nt)
	put(52, encKey)
	binary.LittleEndian.PutUint32(b[60:], flags)
	v := clientVersion()
	copy(b[authVersionOffset:], v[:])
	return b, nil
}

// ParseAuthenticate parses an AUTHENTICATE_MESSAGE. The MIC is taken when the header has room for
// Version and MIC before the first payload byte. The returned value does not alias b.
func ParseAuthenticate(b []byte) (*AuthenticateMessage, error) {
	if err := header(b, TypeAuthenticate, authenticateMinLen, "AUTHENTICATE_MESSAGE"); err != nil {
		return nil, err
	}
	m := &AuthenticateMessage{Flags: le32(b[60:64])}
	firstPayload := len(b)
	get := func(at int, name string) ([]byte, error) {
		f, err := field(b, at, name)
		if err != nil || f == nil {
			return nil, err
		}
		if off := int(le32(b[at+4 : at+8])); off < firstPayload {
			firstPayload = off
		}
		return clone(f), nil
	}
	var err error
	if m.LmChallengeResponse, err = get(12, "LmChallengeResponse"); err != nil {
		return nil, err
	}
	if m.NtChallengeResponse, err = get(20, "NtChallengeResponse"); err != nil {
		return nil, err
	}
	var domain, user, ws []byte
	if domain, err = get(28, "DomainName"); err != nil {
		return nil, err
	}
	if user, err = get(36, "UserName"); err != nil {
		return nil, err
	}
	if ws, err = get(44, "Workstation"); err != nil {
		return nil, err
	}
	if m.EncryptedRandomSessionKey, err = get(52, "EncryptedRandomSessionKey"); err != nil {
		return nil, err
	}
	if m.Flags&FlagUnicode != 0 {
		for _, f := range [][]byte{domain, user, ws} {
			if len(f)%2 != 0 {
				return nil, malformed("Unicode name of odd length %d", len(f))
			}
		}
		m.DomainName, m.UserName, m.Workstation = decodeUTF16(domain), decodeUTF16(user), decodeUTF16(ws)
	} else {
		m.DomainName, m.UserName, m.Workstation = string(domain), string(user), string(ws)
	}
	if firstPayload >= authVersionOffset+8 && len(b) >= authVersionOffset+8 {
		copy(m.Version[:], b[authVersionOffset:])
		m.HasVersion = true
	}
	if firstPayload >= authenticateLen && len(b) >= authenticateLen {
		m.MIC = clone(b[authMICOffset:authenticateLen])
	}
	return m, nil
}

// NTLMv2Blob splits an NTLMv2 NtChallengeResponse (MS-NLMP 2.2.2.8) into NTProofStr and the
// NTLMv2_CLIENT_CHALLENGE ("temp") that follows it.
func NTLMv2Blob(ntResponse []byte) (proof [16]byte, temp []byte, err error) {
	if len(ntResponse) < 16+28 {
		return proof, nil, malformed("NTLMv2 response of %d bytes, at least 44 needed", len(ntResponse))
	}
	if ntResponse[16] != 1 || ntResponse[17] != 1 {
		return proof, nil, malformed("NTLMv2_CLIENT_CHALLENGE version %d.%d, want 1.1", ntResponse[16], ntResponse[17])
	}
	copy(proof[:], ntResponse[:16])
	return proof, ntResponse[16:], nil
}

// fileTime returns t as a little-endian FILETIME (100 ns intervals since 1601-01-01 UTC); times
// before 1601 give 0.
func fileTime(t time.Time) [8]byte {
	const secondsFrom1601To1970 = 11644473600
	var out [8]byte
	s := t.Unix() + secondsFrom1601To1970
	if s < 0 {
		return out
	}
	binary.LittleEndian.PutUint64(out[:], uint64(s)*10_000_000+uint64(t.Nanosecond()/100))
	return out
}

// utf16LE encodes s (valid UTF-8, checked by callers) as UTF-16LE.
func utf16LE(s string) []byte {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	out := make([]byte, 0, 2*n)
	var units [2]uint16
	for _, r := range s {
		for _, u := range utf16.AppendRune(units[:0], r) {
			out = binary.LittleEndian.AppendUint16(out, u)
		}
	}
	return out
}

// decodeUTF16 decodes UTF-16LE (an odd trailing byte is dropped; callers check the length).
func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

func le32bytes(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
