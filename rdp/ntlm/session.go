package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// SignatureLen is the length of an NTLMSSP_MESSAGE_SIGNATURE (MS-NLMP 2.2.2.9.1), which Seal
// puts before the sealed bytes.
const SignatureLen = 16

// Magic constants of the key derivation (MS-NLMP 3.4.5.2 and 3.4.5.3), NUL included.
const (
	magicClientSign = "session key to client-to-server signing key magic constant\x00"
	magicServerSign = "session key to server-to-client signing key magic constant\x00"
	magicClientSeal = "session key to client-to-server sealing key magic constant\x00"
	magicServerSeal = "session key to server-to-client sealing key magic constant\x00"
)

// Session is the NTLM session security of an authenticated connection (MS-NLMP 3.4) with
// extended session security: one signing key, one RC4 stream and one sequence number per
// direction. Seal and Unseal may be called concurrently with each other; calls in the same
// direction are serialised.
type Session struct {
	keyExch bool
	out     direction // what this side sends
	in      direction // what the peer sends
}

type direction struct {
	mu      sync.Mutex
	signKey [16]byte
	cipher  *rc4.Cipher
	seq     uint32
	closed  bool
}

// Role tells which side of the connection a Session serves.
type Role int

const (
	// RoleClient seals with the client-to-server keys and unseals with the server-to-client ones.
	RoleClient Role = iota
	// RoleServer is the converse.
	RoleServer
)

// NewSession returns the session security for one side of a connection from its exported
// session key (16 bytes) and the negotiated flags (those of the AUTHENTICATE_MESSAGE). Clients
// get their Session from Client.Session; NewSession serves the server side of a connection and
// tools that open captured sessions whose key they recovered.
func NewSession(exportedSessionKey []byte, negotiatedFlags uint32, role Role) (*Session, error) {
	if len(exportedSessionKey) != 16 {
		return nil, fmt.Errorf("ntlm: exported session key of %d bytes, want 16", len(exportedSessionKey))
	}
	if role != RoleClient && role != RoleServer {
		return nil, fmt.Errorf("ntlm: unknown role %d", role)
	}
	var key [16]byte
	copy(key[:], exportedSessionKey)
	defer clear(key[:])
	return newSession(&key, negotiatedFlags, role == RoleServer)
}

// newSession derives the keys from the exported session key; server selects the server's view.
func newSession(exportedSessionKey *[16]byte, flags uint32, server bool) (*Session, error) {
	s := &Session{keyExch: flags&FlagKeyExch != 0}
	// MS-NLMP 3.4.5.3 SEALKEY: with extended session security the base is the whole key for
	// 128-bit, its first 7 bytes for 56-bit, its first 5 bytes otherwise.
	sealBase := exportedSessionKey[:]
	switch {
	case flags&Flag128 != 0:
	case flags&Flag56 != 0:
		sealBase = sealBase[:7]
	default:
		sealBase = sealBase[:5]
	}
	c2sSign := md5Concat(exportedSessionKey[:], magicClientSign)
	s2cSign := md5Concat(exportedSessionKey[:], magicServerSign)
	c2sSeal := md5Concat(sealBase, magicClientSeal)
	s2cSeal := md5Concat(sealBase, magicServerSeal)
	defer clear(c2sSeal[:])
	defer clear(s2cSeal[:])
	if server {
		c2sSign, s2cSign = s2cSign, c2sSign
		c2sSeal, s2cSeal = s2cSeal, c2sSeal
	}
	var err error
	s.out.signKey = c2sSign
	if s.out.cipher, err = rc4.NewCipher(c2sSeal[:]); err != nil {
		return nil, fmt.Errorf("ntlm: rc4: %w", err)
	}
	s.in.signKey = s2cSign
	if s.in.cipher, err = rc4.NewCipher(s2cSeal[:]); err != nil {
		return nil, fmt.Errorf("ntlm: rc4: %w", err)
	}
	return s, nil
}

func md5Concat(key []byte, magic string) [16]byte {
	h := md5.New()
	h.Write(key)
	h.Write([]byte(magic))
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// String describes the session without any key.
func (s *Session) String() string {
	if s == nil {
		return "ntlm.Session(nil)"
	}
	return fmt.Sprintf("ntlm.Session{keyExch: %t}", s.keyExch)
}

// GoString is like String.
func (s *Session) GoString() string { return s.String() }

// checksum computes the 8-byte checksum of a signature (MS-NLMP 3.4.4.2): the first 8 bytes of
// HMAC_MD5(SigningKey, SeqNum + Message), RC4-encrypted with the direction's stream under key
// exchange.
func (s *Session) checksum(d *direction, seq uint32, plain []byte) [8]byte {
	var seqBytes [4]byte
	binary.LittleEndian.PutUint32(seqBytes[:], seq)
	h := hmac.New(md5.New, d.signKey[:])
	h.Write(seqBytes[:])
	h.Write(plain)
	var sum [16]byte
	h.Sum(sum[:0])
	var out [8]byte
	copy(out[:], sum[:8])
	if s.keyExch {
		d.cipher.XORKeyStream(out[:], out[:])
	}
	return out
}

// Seal encrypts plain and returns the 16-byte signature (version 1, checksum, sequence number)
// followed by the encrypted bytes, as GSS_WrapEx does for CredSSP (MS-NLMP 3.4.3, 3.4.4.2).
func (s *Session) Seal(plain []byte) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", ErrState)
	}
	d := &s.out
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("%w: session closed", ErrState)
	}
	if d.seq == math.MaxUint32 {
		return nil, fmt.Errorf("%w: sequence numbers exhausted", ErrState)
	}
	out := make([]byte, SignatureLen+len(plain))
	d.cipher.XORKeyStream(out[SignatureLen:], plain)
	sum := s.checksum(d, d.seq, plain)
	binary.LittleEndian.PutUint32(out[0:4], 1)
	copy(out[4:12], sum[:])
	binary.LittleEndian.PutUint32(out[12:16], d.seq)
	d.seq++
	return out, nil
}

// Unseal checks and decrypts a message sealed by the peer: a 16-byte signature followed by the
// encrypted bytes. A message whose signature or sequence number does not verify returns an error
// wrapping ErrIntegrity and leaves the session as it was, so that the next genuine message
// still unseals.
func (s *Session) Unseal(msg []byte) ([]byte, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", ErrState)
	}
	if len(msg) < SignatureLen {
		return nil, fmt.Errorf("%w: sealed message of %d bytes, shorter than its %d-byte signature", ErrMalformed, len(msg), SignatureLen)
	}
	if v := binary.LittleEndian.Uint32(msg[0:4]); v != 1 {
		return nil, fmt.Errorf("%w: signature version %d, want 1", ErrMalformed, v)
	}
	d := &s.in
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("%w: session closed", ErrState)
	}
	if d.seq == math.MaxUint32 {
		return nil, fmt.Errorf("%w: sequence numbers exhausted", ErrState)
	}
	saved := *d.cipher
	defer func() { saved = rc4.Cipher{} }()

	plain := make([]byte, len(msg)-SignatureLen)
	d.cipher.XORKeyStream(plain, msg[SignatureLen:])
	sum := s.checksum(d, d.seq, plain)
	seqOK := binary.LittleEndian.Uint32(msg[12:16]) == d.seq
	if !hmac.Equal(sum[:], msg[4:12]) || !seqOK {
		*d.cipher = saved
		clear(plain)
		return nil, fmt.Errorf("%w (expected sequence number %d)", ErrIntegrity, d.seq)
	}
	d.seq++
	return plain, nil
}

// Close zeroes the keys and RC4 states; Seal and Unseal fail afterwards.
func (s *Session) Close() {
	if s == nil {
		return
	}
	for _, d := range []*direction{&s.out, &s.in} {
		d.mu.Lock()
		clear(d.signKey[:])
		if d.cipher != nil {
			*d.cipher = rc4.Cipher{}
		}
		d.closed = true
		d.mu.Unlock()
	}
}
