package ntlm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func checkHex(t testing.TB, name string, got []byte, want string) {
	t.Helper()
	if g := hex.EncodeToString(got); g != strings.Join(strings.Fields(want), "") {
		t.Errorf("%s:\n got %s\nwant %s", name, g, want)
	}
}

// RFC 1320, appendix A.5, and the NT hash of "Password" (MS-NLMP 4.2.2.1.2).
func TestMD4(t *testing.T) {
	for in, want := range map[string]string{
		"":                           "31d6cfe0d16ae931b73c59d7e0c089c0",
		"a":                          "bde52cb31de33e46245e05fbdbd6fb24",
		"abc":                        "a448017aaf21d8525fc10ae87aa6729d",
		"message digest":             "d9130a8164549fe818874806e1c7014b",
		"abcdefghijklmnopqrstuvwxyz": "d79e1c308aa5bbcdeea8ed63df412da9",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789":                   "043f8582f241db351ce627e153e7f0e4",
		"12345678901234567890123456789012345678901234567890123456789012345678901234567890": "e33b4ddc9c38f2199c3e7b164fcc0536",
	} {
		sum := md4Sum([]byte(in))
		checkHex(t, "MD4("+in+")", sum[:], want)
	}
	nt := md4Sum(utf16LE("Password"))
	checkHex(t, "NT hash of Password", nt[:], "a4f49c406510bdcab6824ee7c30fd852")
}

// The values of MS-NLMP 4.2.4 (NTLMv2 authentication): user "User", domain "Domain", password
// "Password", server challenge 0123456789abcdef, client challenge aaaaaaaaaaaaaaaa, time 0,
// random session key 0x55 × 16, and the challenge's TargetInfo (NetBIOS domain "Domain", NetBIOS
// server "Server").
const (
	specTargetInfo = "02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000"
	// specChallenge is the CHALLENGE_MESSAGE of MS-NLMP 4.2.4.3.
	specChallenge = "4e544c4d53535000 02000000 0c000c00 38000000 33828ae2 0123456789abcdef 0000000000000000" +
		" 24002400 44000000 06007017 0000000f 530065007200760065007200 " + specTargetInfo
)

func TestSpecNTLMv2(t *testing.T) {
	key := ntowfv2(utf16LE("Password"), "User", utf16LE("Domain"))
	checkHex(t, "NTOWFv2 (4.2.4.1.1)", key[:], "0c868a403bfd7a93a3001ef22ef02e3f")

	var serverChallenge, clientChallenge, ts [8]byte
	copy(serverChallenge[:], unhex(t, "0123456789abcdef"))
	copy(clientChallenge[:], bytes.Repeat([]byte{0xaa}, 8))

	lm := lmv2Response(&key, serverChallenge, clientChallenge)
	checkHex(t, "LMv2 response (4.2.4.2.1)", lm, "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")

	resp, sessionBaseKey := ntlmv2Response(&key, serverChallenge, clientChallenge, ts, unhex(t, specTargetInfo))
	checkHex(t, "NTProofStr (4.2.4.2.2)", resp[:16], "68cd0ab851e51c96aabc927bebef6a1c")
	checkHex(t, "temp (4.2.4.2.2)", resp[16:],
		"0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000"+specTargetInfo+"00000000")
	checkHex(t, "SessionBaseKey (4.2.4.1.2)", sessionBaseKey[:], "8de40ccadbc14a82f15cb0ad0de95ca3")

	random := bytes.Repeat([]byte{0x55}, 16)
	enc, err := rc4Once(sessionBaseKey[:], random)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "EncryptedRandomSessionKey (4.2.4.2.3)", enc, "c5dad2544fc9799094ce1ce90bc9d03e")
}

func TestSpecSealing(t *testing.T) {
	var exported [16]byte
	copy(exported[:], bytes.Repeat([]byte{0x55}, 16))
	const flags = 0xe28a8233 // the challenge flags of 4.2.4
	s, err := newSession(&exported, flags, false)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "client signing key (4.2.4.4)", s.out.signKey[:], "4788dc861b4782f35d43fd98fe1a2d39")
	sealKey := md5Concat(exported[:], magicClientSeal)
	checkHex(t, "client sealing key (4.2.4.4)", sealKey[:], "59f600973cc4960a25480a7c196e4c58")

	plain := utf16LE("Plaintext")
	out, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "signature (4.2.4.4)", out[:16], "01000000 7fb38ec5c55d4976 00000000")
	checkHex(t, "sealed data (4.2.4.4)", out[16:], "54e50165bf1936dc996020c1811b0f06fb5f")

	// The server's view of the same session unseals it.
	srv, err := newSession(&exported, flags, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.Unseal(out)
	if err != nil {
		t.Fatalf("server Unseal: %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("server Unseal = %x, want %x", got, plain)
	}

	// And the server's sealed "Plaintext" (first message, seqnum 0) unseals on the client. The
	// spec gives only the client direction; this value, computed with the server-to-client
	// keys, agrees with independent implementations.
	reply, err := srv.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "server signature", reply[:16], "01000000 b298b847ce7c5807 00000000")
	checkHex(t, "server sealed data", reply[16:], "160871b730ba74e946c453d7465b54278dd0")
	got, err = s.Unseal(reply)
	if err != nil {
		t.Fatalf("client Unseal: %v", err)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("client Unseal = %x, want %x", got, plain)
	}
}

// TestSpecClientFlow runs the Client on the challenge of MS-NLMP 4.2.4.3 with the spec's
// randomness. The client adds MsvAvFlags and MsvAvChannelBindings to the blob (the spec's
// example has no MIC), so NTProofStr differs from 4.2.4.2.2; what must match is checked against
// a server-side recomputation.
func TestSpecClientFlow(t *testing.T) {
	rnd := append(bytes.Repeat([]byte{0xaa}, 8), bytes.Repeat([]byte{0x55}, 16)...)
	c, err := NewClient(Credentials{Domain: "Domain", User: "User", Password: "Password"}, &Options{
		Rand: bytes.NewReader(rnd),
		Now:  func() time.Time { return time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := c.Negotiate()
	if err != nil {
		t.Fatal(err)
	}
	chal := unhex(t, specChallenge)
	auth, err := c.Authenticate(chal)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseAuthenticate(auth)
	if err != nil {
		t.Fatal(err)
	}
	if m.UserName != "User" || m.DomainName != "Domain" || m.Workstation != "" {
		t.Errorf("names = %q %q %q", m.DomainName, m.UserName, m.Workstation)
	}
	// No MsvAvTimestamp in this challenge: the LMv2 response is computed.
	checkHex(t, "LmChallengeResponse", m.LmChallengeResponse, "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
	v := verifyAuthenticate(t, "Password", neg, chal, auth)
	checkHex(t, "exported session key", v.exported[:], strings.Repeat("55", 16))
	wantFlags := uint32(0xe28a8233) & ClientFlags
	if m.Flags != wantFlags {
		t.Errorf("AUTHENTICATE flags 0x%08x, want 0x%08x", m.Flags, wantFlags)
	}
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Seal(utf16LE("Plaintext"))
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "signature", out[:16], "01000000 7fb38ec5c55d4976 00000000")
	checkHex(t, "sealed data", out[16:], "54e50165bf1936dc996020c1811b0f06fb5f")
}

// verified is what a server learns from a valid AUTHENTICATE_MESSAGE.
type verified struct {
	msg      *AuthenticateMessage
	blob     []byte
	avPairs  []AVPair
	exported [16]byte
}

// verifyAuthenticate checks an AUTHENTICATE_MESSAGE as a server would (MS-NLMP 3.2.5.1.2) and
// fails the test when it does not verify.
func verifyAuthenticate(t testing.TB, password string, negotiate, challenge, authenticate []byte) verified {
	t.Helper()
	v, err := checkAuthenticate(password, negotiate, challenge, authenticate)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkAuthenticate recomputes NTProofStr from the password, the challenge and the client's
// blob, then the session key and the MIC. It is written from the spec, independently of the
// client code paths it checks (it shares only the primitives tested against the spec's vectors
// above).
func checkAuthenticate(password string, negotiate, challenge, authenticate []byte) (verified, error) {
	var v verified
	ch, err := ParseChallenge(challenge)
	if err != nil {
		return v, fmt.Errorf("ParseChallenge: %w", err)
	}
	m, err := ParseAuthenticate(authenticate)
	if err != nil {
		return v, fmt.Errorf("ParseAuthenticate: %w", err)
	}
	proof, temp, err := NTLMv2Blob(m.NtChallengeResponse)
	if err != nil {
		return v, fmt.Errorf("NTLMv2Blob: %w", err)
	}
	key := ntowfv2(utf16LE(password), m.UserName, utf16LE(m.DomainName))
	if want := ntProofStr(&key, ch.ServerChallenge, temp); want != proof {
		return v, fmt.Errorf("NTProofStr %x, recomputed %x", proof, want)
	}
	avPairs, err := ParseAVPairs(temp[28:])
	if err != nil {
		return v, fmt.Errorf("blob AV pairs: %w", err)
	}
	sessionBaseKey := hmacMD5(key[:], proof[:])
	v = verified{msg: m, blob: temp, avPairs: avPairs, exported: sessionBaseKey}
	if m.Flags&FlagKeyExch != 0 {
		if len(m.EncryptedRandomSessionKey) != 16 {
			return v, fmt.Errorf("EncryptedRandomSessionKey of %d bytes", len(m.EncryptedRandomSessionKey))
		}
		dec, err := rc4Once(sessionBaseKey[:], m.EncryptedRandomSessionKey)
		if err != nil {
			return v, err
		}
		copy(v.exported[:], dec)
	}
	if m.MIC == nil {
		return v, fmt.Errorf("no MIC")
	}
	zeroed := bytes.Clone(authenticate)
	clear(zeroed[authMICOffset:authenticateLen])
	if mic := computeMIC(v.exported[:], negotiate, challenge, zeroed); !bytes.Equal(mic[:], m.MIC) {
		return v, fmt.Errorf("MIC %x, recomputed %x", m.MIC, mic)
	}
	var avFlags uint32
	for _, p := range avPairs {
		if p.ID == AvFlags && len(p.Value) == 4 {
			avFlags = le32(p.Value)
		}
	}
	if avFlags&AvFlagMICPresent == 0 {
		return v, fmt.Errorf("MsvAvFlags 0x%x lacks MIC present", avFlags)
	}
	return v, nil
}
