// Package ntlm is an NTLMv2 client (MS-NLMP) for CredSSP (MS-CSSP): it builds the
// NEGOTIATE_MESSAGE, parses the server's CHALLENGE_MESSAGE, answers with an AUTHENTICATE_MESSAGE
// carrying an NTLMv2 response, an encrypted random session key and a MIC, and then seals and
// unseals messages with the session keys (extended session security, RC4, sequence numbers).
//
// Only what CredSSP needs is implemented, and only the safe subset of NTLM: NTLMv2 (never
// NTLMv1 or LM), extended session security and 128-bit keys are required from the server;
// key exchange (a random session key) is used whenever the server offers it.
//
// Secrets — the password, the NT hash and every key derived from it — are never part of an error,
// a log or a String result. Buffers that held them are zeroed once they are no longer needed,
// where Go allows it (a string cannot be zeroed, nor the key copies inside crypto/hmac).
//
// Every parser checks its bounds and returns an error wrapping ErrMalformed on any input; none
// panics.
package ntlm

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// NegotiateFlags (MS-NLMP 2.2.2.5).
const (
	FlagUnicode                 uint32 = 0x00000001 // NTLMSSP_NEGOTIATE_UNICODE
	FlagOEM                     uint32 = 0x00000002 // NTLM_NEGOTIATE_OEM
	FlagRequestTarget           uint32 = 0x00000004 // NTLMSSP_REQUEST_TARGET
	FlagSign                    uint32 = 0x00000010 // NTLMSSP_NEGOTIATE_SIGN
	FlagSeal                    uint32 = 0x00000020 // NTLMSSP_NEGOTIATE_SEAL
	FlagDatagram                uint32 = 0x00000040 // NTLMSSP_NEGOTIATE_DATAGRAM
	FlagLMKey                   uint32 = 0x00000080 // NTLMSSP_NEGOTIATE_LM_KEY
	FlagNTLM                    uint32 = 0x00000200 // NTLMSSP_NEGOTIATE_NTLM
	FlagAnonymous               uint32 = 0x00000800 // anonymous connection
	FlagOEMDomainSupplied       uint32 = 0x00001000 // NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED
	FlagOEMWorkstationSupplied  uint32 = 0x00002000 // NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED
	FlagAlwaysSign              uint32 = 0x00008000 // NTLMSSP_NEGOTIATE_ALWAYS_SIGN
	FlagTargetTypeDomain        uint32 = 0x00010000 // NTLMSSP_TARGET_TYPE_DOMAIN
	FlagTargetTypeServer        uint32 = 0x00020000 // NTLMSSP_TARGET_TYPE_SERVER
	FlagExtendedSessionSecurity uint32 = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	FlagIdentify                uint32 = 0x00100000 // NTLMSSP_NEGOTIATE_IDENTIFY
	FlagRequestNonNTSessionKey  uint32 = 0x00400000 // NTLMSSP_REQUEST_NON_NT_SESSION_KEY
	FlagTargetInfo              uint32 = 0x00800000 // NTLMSSP_NEGOTIATE_TARGET_INFO
	FlagVersion                 uint32 = 0x02000000 // NTLMSSP_NEGOTIATE_VERSION
	Flag128                     uint32 = 0x20000000 // NTLMSSP_NEGOTIATE_128
	FlagKeyExch                 uint32 = 0x40000000 // NTLMSSP_NEGOTIATE_KEY_EXCH
	Flag56                      uint32 = 0x80000000 // NTLMSSP_NEGOTIATE_56
)

// ClientFlags are the flags of the NEGOTIATE_MESSAGE this client sends.
const ClientFlags = Flag56 | FlagKeyExch | Flag128 | FlagVersion | FlagExtendedSessionSecurity |
	FlagAlwaysSign | FlagNTLM | FlagSeal | FlagSign | FlagRequestTarget | FlagUnicode

// requiredFlags must all be set in the server's CHALLENGE_MESSAGE.
const requiredFlags = FlagUnicode | FlagSign | FlagSeal | FlagExtendedSessionSecurity | Flag128

// AV pair identifiers (MS-NLMP 2.2.2.1).
const (
	AvEOL             uint16 = 0x0000 // MsvAvEOL
	AvNbComputerName  uint16 = 0x0001 // MsvAvNbComputerName
	AvNbDomainName    uint16 = 0x0002 // MsvAvNbDomainName
	AvDNSComputerName uint16 = 0x0003 // MsvAvDnsComputerName
	AvDNSDomainName   uint16 = 0x0004 // MsvAvDnsDomainName
	AvDNSTreeName     uint16 = 0x0005 // MsvAvDnsTreeName
	AvFlags           uint16 = 0x0006 // MsvAvFlags
	AvTimestamp       uint16 = 0x0007 // MsvAvTimestamp
	AvSingleHost      uint16 = 0x0008 // MsvAvSingleHost
	AvTargetName      uint16 = 0x0009 // MsvAvTargetName
	AvChannelBindings uint16 = 0x000A // MsvAvChannelBindings
)

// AvFlagMICPresent is the MsvAvFlags bit telling the server that the AUTHENTICATE_MESSAGE carries
// a MIC.
const AvFlagMICPresent uint32 = 0x00000002

// Limits on what the client accepts and builds.
const (
	// MaxMessageLen bounds every NTLM message parsed or built.
	MaxMessageLen = 64 << 10
	// MaxNameLen bounds the user, domain and workstation names, in UTF-16 code units.
	MaxNameLen = 256
	// MaxPasswordLen bounds the password, in UTF-16 code units.
	MaxPasswordLen = 512
)

var (
	// ErrMalformed wraps every error about a message that cannot be parsed.
	ErrMalformed = errors.New("ntlm: malformed message")
	// ErrUnsupported wraps errors about a server that asks for something this client refuses
	// (no Unicode, no extended session security, keys shorter than 128 bits, no sealing).
	ErrUnsupported = errors.New("ntlm: unsupported by this client")
	// ErrState reports a method called out of order (Authenticate before Negotiate, twice, ...).
	ErrState = errors.New("ntlm: call out of order")
	// ErrIntegrity reports a sealed message whose signature does not verify.
	ErrIntegrity = errors.New("ntlm: message signature does not verify")
)

// Credentials are the account the client authenticates as. Domain may be empty (a local
// account). String and GoString never show the password.
type Credentials struct {
	Domain   string
	User     string
	Password string
}

// String returns domain\user; the password is never shown.
func (c Credentials) String() string {
	if c.Domain == "" {
		return c.User
	}
	return c.Domain + `\` + c.User
}

// GoString is like String, so that %#v does not print the password either.
func (c Credentials) GoString() string {
	return fmt.Sprintf("ntlm.Credentials{Domain: %q, User: %q, Password: <redacted>}", c.Domain, c.User)
}

// Options tune a Client. The zero value is ready to use.
type Options struct {
	// Rand supplies the client challenge and the random session key; crypto/rand.Reader when
	// nil. Tests inject a fixed reader.
	Rand io.Reader
	// Now gives the NTLMv2 blob's timestamp when the server sends no MsvAvTimestamp; time.Now
	// when nil.
	Now func() time.Time
	// TargetName, when not empty, is sent as MsvAvTargetName: the service principal name of
	// the target, such as "TERMSRV/host.example.com".
	TargetName string
	// ChannelBindings, when not nil, is sent as MsvAvChannelBindings: the MD5 hash of the
	// gss_channel_bindings_struct. When nil, 16 zero bytes are sent (no channel binding), as
	// CredSSP clients do.
	ChannelBindings *[16]byte
	// Workstation, when not empty, is the client's NetBIOS name in the AUTHENTICATE_MESSAGE.
	Workstation string
}

// clientVersion returns the VERSION structure (MS-NLMP 2.2.2.10) the client sends: Windows 10.0
// build 17763, NTLMSSP_REVISION_W2K3. It is informational only.
func clientVersion() [8]byte { return [8]byte{10, 0, 0x63, 0x45, 0, 0, 0, 0x0f} }

type state int

const (
	stateNew state = iota
	stateNegotiated
	stateAuthenticated
	stateFailed
)

// Client is one NTLMv2 authentication from the client side: Negotiate, Authenticate with the
// server's challenge, then Session. A Client is not safe for concurrent use; the Session it
// yields is.
type Client struct {
	state state
	opts  Options

	user, domain, workstation []byte // UTF-16LE
	responseKeyNT             [16]byte

	negotiate []byte // the NEGOTIATE_MESSAGE sent, for the MIC
	session   *Session
}

// NewClient returns a client for creds. It derives the NTLMv2 response key (NTOWFv2) from the
// password at once and keeps only that key, zeroing the UTF-16 copy of the password.
func NewClient(creds Credentials, opts *Options) (*Client, error) {
	c := &Client{}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.Rand == nil {
		c.opts.Rand = rand.Reader
	}
	if c.opts.Now == nil {
		c.opts.Now = time.Now
	}
	if creds.User == "" {
		return nil, errors.New("ntlm: empty user name")
	}
	var err error
	if c.user, err = utf16Name("user name", creds.User, MaxNameLen); err != nil {
		return nil, err
	}
	if c.domain, err = utf16Name("domain name", creds.Domain, MaxNameLen); err != nil {
		return nil, err
	}
	if c.workstation, err = utf16Name("workstation name", c.opts.Workstation, MaxNameLen); err != nil {
		return nil, err
	}
	if len(c.opts.TargetName) > 4*MaxNameLen || !utf8.ValidString(c.opts.TargetName) {
		return nil, errors.New("ntlm: target name is too long or not valid UTF-8")
	}
	if !utf8.ValidString(creds.Password) {
		return nil, errors.New("ntlm: password is not valid UTF-8")
	}
	pw := utf16LE(creds.Password)
	defer clear(pw)
	if len(pw) > 2*MaxPasswordLen {
		return nil, fmt.Errorf("ntlm: password longer than %d UTF-16 code units", MaxPasswordLen)
	}
	c.responseKeyNT = ntowfv2(pw, creds.User, c.domain)
	return c, nil
}

// String describes the client without any secret.
func (c *Client) String() string {
	if c == nil {
		return "ntlm.Client(nil)"
	}
	return fmt.Sprintf("ntlm.Client{state: %d}", c.state)
}

// GoString is like String.
func (c *Client) GoString() string { return c.String() }

// Negotiate returns the NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1) to send first. It carries no domain
// or workstation name.
func (c *Client) Negotiate() ([]byte, error) {
	if c.state != stateNew {
		return nil, fmt.Errorf("%w: Negotiate must come first and only once", ErrState)
	}
	c.negotiate = marshalNegotiate(ClientFlags)
	c.state = stateNegotiated
	return clone(c.negotiate), nil
}

// Authenticate parses the server's CHALLENGE_MESSAGE and returns the AUTHENTICATE_MESSAGE
// (MS-NLMP 2.2.1.3) with the NTLMv2 response, the encrypted random session key and the MIC.
// After it succeeds, Session returns the session keys. The response key is zeroed whatever the
// outcome; a failed Authenticate cannot be retried.
func (c *Client) Authenticate(challenge []byte) ([]byte, error) {
	if c.state != stateNegotiated {
		return nil, fmt.Errorf("%w: Authenticate must follow Negotiate, once", ErrState)
	}
	c.state = stateFailed
	defer clear(c.responseKeyNT[:])

	ch, err := ParseChallenge(challenge)
	if err != nil {
		return nil, err
	}
	if missing := requiredFlags &^ ch.Flags; missing != 0 {
		return nil, fmt.Errorf("%w: the server's challenge lacks flags 0x%08x (needs Unicode, sign, seal, extended session security and 128-bit keys)", ErrUnsupported, missing)
	}
	if ch.Flags&FlagDatagram != 0 {
		return nil, fmt.Errorf("%w: connectionless (datagram) NTLM", ErrUnsupported)
	}
	flags := ClientFlags&ch.Flags | FlagVersion

	var clientChallenge [8]byte
	if _, err := io.ReadFull(c.opts.Rand, clientChallenge[:]); err != nil {
		return nil, fmt.Errorf("ntlm: read client challenge: %w", err)
	}
	var exported [16]byte
	defer clear(exported[:])
	if flags&FlagKeyExch != 0 {
		if _, err := io.ReadFull(c.opts.Rand, exported[:]); err != nil {
			return nil, fmt.Errorf("ntlm: read random session key: %w", err)
		}
	}

	ts, hasTS, err := ch.Timestamp()
	if err != nil {
		return nil, err
	}
	if !hasTS {
		ts = fileTime(c.opts.Now())
	}
	targetInfo, err := c.clientTargetInfo(ch.TargetInfo)
	if err != nil {
		return nil, err
	}

	ntResp, sessionBaseKey := ntlmv2Response(&c.responseKeyNT, ch.ServerChallenge, clientChallenge, ts, targetInfo)
	defer clear(sessionBaseKey[:])
	var lmResp []byte
	if hasTS {
		// MS-NLMP 3.1.5.1.2: with MsvAvTimestamp, the LmChallengeResponse is Z(24).
		lmResp = make([]byte, 24)
	} else {
		lmResp = lmv2Response(&c.responseKeyNT, ch.ServerChallenge, clientChallenge)
	}

	// NTLMv2: KeyExchangeKey = SessionBaseKey.
	var encryptedKey []byte
	if flags&FlagKeyExch != 0 {
		if encryptedKey, err = rc4Once(sessionBaseKey[:], exported[:]); err != nil {
			return nil, err
		}
	} else {
		exported = sessionBaseKey
	}

	msg, err := marshalAuthenticate(flags, lmResp, ntResp, c.domain, c.user, c.workstation, encryptedKey)
	if err != nil {
		return nil, err
	}
	mic := computeMIC(exported[:], c.negotiate, challenge, msg)
	copy(msg[authMICOffset:], mic[:])

	if c.session, err = newSession(&exported, flags, false); err != nil {
		return nil, err
	}
	c.state = stateAuthenticated
	return msg, nil
}

// Session returns the session security context established by Authenticate.
func (c *Client) Session() (*Session, error) {
	if c.state != stateAuthenticated || c.session == nil {
		return nil, fmt.Errorf("%w: no session before a successful Authenticate", ErrState)
	}
	return c.session, nil
}

// Close zeroes the response key and closes the session, if any. Call it when the client is no
// longer needed, whether or not authentication completed.
func (c *Client) Close() {
	if c == nil {
		return
	}
	clear(c.responseKeyNT[:])
	if c.session != nil {
		c.session.Close()
	}
	c.state = stateFailed
}

// clientTargetInfo builds the AV pairs of the NTLMv2 blob: the server's pairs except MsvAvEOL and
// the ones the client sets itself, then MsvAvFlags (MIC present), MsvAvChannelBindings,
// optionally MsvAvTargetName, and MsvAvEOL.
func (c *Client) clientTargetInfo(server []AVPair) ([]byte, error) {
	avFlags := AvFlagMICPresent
	out := make([]AVPair, 0, len(server)+4)
	for _, p := range server {
		switch p.ID {
		case AvEOL, AvChannelBindings, AvTargetName:
			continue
		case AvFlags:
			if len(p.Value) != 4 {
				return nil, fmt.Errorf("%w: MsvAvFlags of %d bytes, want 4", ErrMalformed, len(p.Value))
			}
			avFlags |= le32(p.Value)
			continue
		}
		out = append(out, p)
	}
	out = append(out, AVPair{ID: AvFlags, Value: le32bytes(avFlags)})
	cb := make([]byte, 16)
	if c.opts.ChannelBindings != nil {
		copy(cb, c.opts.ChannelBindings[:])
	}
	out = append(out, AVPair{ID: AvChannelBindings, Value: cb})
	if c.opts.TargetName != "" {
		out = append(out, AVPair{ID: AvTargetName, Value: utf16LE(c.opts.TargetName)})
	}
	return MarshalAVPairs(out)
}

// utf16Name checks a name and returns it as UTF-16LE.
func utf16Name(what, s string, maxUnits int) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("ntlm: %s is not valid UTF-8", what)
	}
	b := utf16LE(s)
	if len(b) > 2*maxUnits {
		return nil, fmt.Errorf("ntlm: %s longer than %d UTF-16 code units", what, maxUnits)
	}
	return b, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
