package ntlm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The capture freerdp-shadow-nla (FreeRDP 2.11.7 client, /u:shadowu /p:Shadow-Pass-1, against the
// FreeRDP shadow server): the NTLM messages carried in its TSRequests, and the sealed pubKeyAuth
// and authInfo fields, extracted to testdata/capture.
const (
	captureUser     = "shadowu"
	capturePassword = "Shadow-Pass-1"
	// captureTSCredentials is the plaintext of the client's authInfo: TSCredentials{credType 1,
	// TSPasswordCreds{"", "shadowu", "Shadow-Pass-1"}} in UTF-16LE (MS-CSSP 2.2.1.2).
	captureTSCredentials = "303fa003020101a1380436" + "3034" +
		"a0020400" +
		"a110040e" + "7300680061006400" + "6f0077007500" +
		"a21c041a" + "53006800610064006f0077002d00" + "5000610073007300" + "2d003100"
)

func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "capture", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCaptureParse(t *testing.T) {
	neg, err := ParseNegotiate(readCapture(t, "negotiate.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if neg.Flags != 0xe20882b7 {
		t.Errorf("NEGOTIATE flags 0x%08x", neg.Flags)
	}

	ch, err := ParseChallenge(readCapture(t, "challenge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "ServerChallenge", ch.ServerChallenge[:], "53e909f6fdc6095e")
	if ch.Flags != 0xe28882b7 || ch.TargetName != "VM" || !ch.HasVersion {
		t.Errorf("challenge flags 0x%08x, target name %q, version %t", ch.Flags, ch.TargetName, ch.HasVersion)
	}
	wantIDs := []uint16{AvNbDomainName, AvNbComputerName, AvDNSDomainName, AvDNSComputerName, AvTimestamp}
	if len(ch.TargetInfo) != len(wantIDs) {
		t.Fatalf("%d AV pairs, want %d", len(ch.TargetInfo), len(wantIDs))
	}
	for i, id := range wantIDs {
		if ch.TargetInfo[i].ID != id {
			t.Errorf("AV pair %d id 0x%04x, want 0x%04x", i, ch.TargetInfo[i].ID, id)
		}
	}
	ts, ok, err := ch.Timestamp()
	if err != nil || !ok {
		t.Fatalf("Timestamp: %v %v", ok, err)
	}
	checkHex(t, "MsvAvTimestamp", ts[:], "0023d2029a7fdd01")

	m, err := ParseAuthenticate(readCapture(t, "authenticate.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if m.UserName != captureUser || m.DomainName != "" || m.Workstation != "vm" {
		t.Errorf("names %q %q %q", m.DomainName, m.UserName, m.Workstation)
	}
	if !bytes.Equal(m.LmChallengeResponse, make([]byte, 24)) {
		t.Errorf("LmChallengeResponse %x, want Z(24) since the challenge has a timestamp", m.LmChallengeResponse)
	}
	if m.MIC == nil || len(m.EncryptedRandomSessionKey) != 16 || m.Flags&FlagKeyExch == 0 {
		t.Errorf("MIC %x, key %x, flags 0x%08x", m.MIC, m.EncryptedRandomSessionKey, m.Flags)
	}
	if s := m.String(); bytes.Contains([]byte(s), m.NtChallengeResponse[:16]) {
		t.Errorf("String shows the response")
	}
}

// TestCaptureKnownAnswers recomputes the FreeRDP client's NTProofStr and MIC from the password,
// the server challenge and the client's blob, then opens the sealed CredSSP fields with the
// session key recovered from the exchange.
func TestCaptureKnownAnswers(t *testing.T) {
	neg, chal, auth := readCapture(t, "negotiate.bin"), readCapture(t, "challenge.bin"), readCapture(t, "authenticate.bin")
	v := verifyAuthenticate(t, capturePassword, neg, chal, auth)
	checkHex(t, "NTProofStr", v.msg.NtChallengeResponse[:16], "440d2d556f96ed74df034e56f615bebf")
	checkHex(t, "MIC", v.msg.MIC, "a6262f5245a2d1709d0860e36864db09")
	checkHex(t, "blob timestamp", v.blob[8:16], "0023d2029a7fdd01")

	for _, wrong := range []string{"Shadow-Pass-2", "shadow-pass-1", ""} {
		if _, err := checkAuthenticate(wrong, neg, chal, auth); err == nil {
			t.Errorf("password %q verifies too", wrong)
		}
	}

	// The server's view opens the client's pubKeyAuth (seqnum 0) and authInfo (seqnum 1); the
	// client's view opens the server's pubKeyAuth (seqnum 0).
	srv, err := newSession(&v.exported, v.msg.Flags, true)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := newSession(&v.exported, v.msg.Flags, false)
	if err != nil {
		t.Fatal(err)
	}
	c2sHash, err := srv.Unseal(readCapture(t, "pubkeyauth-c2s.bin"))
	if err != nil {
		t.Fatalf("client pubKeyAuth: %v", err)
	}
	creds, err := srv.Unseal(readCapture(t, "authinfo-c2s.bin"))
	if err != nil {
		t.Fatalf("authInfo: %v", err)
	}
	checkHex(t, "TSCredentials", creds, captureTSCredentials)
	s2cHash, err := cli.Unseal(readCapture(t, "pubkeyauth-s2c.bin"))
	if err != nil {
		t.Fatalf("server pubKeyAuth: %v", err)
	}
	if len(c2sHash) != 32 || len(s2cHash) != 32 || bytes.Equal(c2sHash, s2cHash) {
		t.Errorf("binding hashes %x / %x: want two different SHA-256 values", c2sHash, s2cHash)
	}

	// Tampering is detected and does not disturb the stream.
	cli2, _ := newSession(&v.exported, v.msg.Flags, false)
	bad := readCapture(t, "pubkeyauth-s2c.bin")
	bad[20] ^= 1
	if _, err := cli2.Unseal(bad); !errors.Is(err, ErrIntegrity) {
		t.Errorf("tampered Unseal: %v, want ErrIntegrity", err)
	}
	if got, err := cli2.Unseal(readCapture(t, "pubkeyauth-s2c.bin")); err != nil || !bytes.Equal(got, s2cHash) {
		t.Errorf("Unseal after a tampered message: %v", err)
	}
}

// TestCaptureClientMatchesFreeRDP runs this client on the captured challenge with the FreeRDP
// client's client challenge and random session key: the AV pairs of its blob must equal
// FreeRDP's, and a server-side check must accept its AUTHENTICATE_MESSAGE.
func TestCaptureClientMatchesFreeRDP(t *testing.T) {
	neg, chal, auth := readCapture(t, "negotiate.bin"), readCapture(t, "challenge.bin"), readCapture(t, "authenticate.bin")
	theirs := verifyAuthenticate(t, capturePassword, neg, chal, auth)

	rnd := append(bytes.Clone(theirs.blob[16:24]), theirs.exported[:]...)
	c, err := NewClient(Credentials{User: captureUser, Password: capturePassword}, &Options{
		Rand:        bytes.NewReader(rnd),
		Now:         func() time.Time { t.Error("Now called although the server sent a timestamp"); return time.Now() },
		TargetName:  "TERMSRV/127.0.0.1",
		Workstation: "vm",
	})
	if err != nil {
		t.Fatal(err)
	}
	ourNeg, err := c.Negotiate()
	if err != nil {
		t.Fatal(err)
	}
	ourAuth, err := c.Authenticate(chal)
	if err != nil {
		t.Fatal(err)
	}
	ours := verifyAuthenticate(t, capturePassword, ourNeg, chal, ourAuth)
	if ours.exported != theirs.exported {
		t.Errorf("exported session key differs")
	}
	// FreeRDP pads its blob with 8 more zero bytes after Z(4), so NTProofStr, the session base
	// key and the encrypted session key differ; the AV pairs and the header do not.
	if !bytes.Equal(ours.blob[:28], theirs.blob[:28]) {
		t.Errorf("blob header %x, FreeRDP %x", ours.blob[:28], theirs.blob[:28])
	}
	ourAV, _ := MarshalAVPairs(ours.avPairs)
	theirAV, _ := MarshalAVPairs(theirs.avPairs)
	if !bytes.Equal(ourAV, theirAV) {
		t.Errorf("blob AV pairs\n got %x\nwant %x", ourAV, theirAV)
	}
	if !bytes.Equal(ours.msg.LmChallengeResponse, make([]byte, 24)) {
		t.Errorf("LmChallengeResponse %x, want Z(24)", ours.msg.LmChallengeResponse)
	}

	// Our session opens what the capture's server sealed.
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unseal(readCapture(t, "pubkeyauth-s2c.bin")); err != nil {
		t.Errorf("Unseal of the server's pubKeyAuth: %v", err)
	}
	// And our first sealed message is what FreeRDP sent with the same keys and plaintext.
	srv, _ := newSession(&theirs.exported, theirs.msg.Flags, true)
	hash, err := srv.Unseal(readCapture(t, "pubkeyauth-c2s.bin"))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal(hash)
	if err != nil {
		t.Fatal(err)
	}
	checkHex(t, "sealed client pubKeyAuth", sealed, hex.EncodeToString(readCapture(t, "pubkeyauth-c2s.bin")))
}

func TestClientErrors(t *testing.T) {
	chal := readCapture(t, "challenge.bin")
	newClient := func() *Client {
		c, err := NewClient(Credentials{User: "u", Password: "p"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient()
	if _, err := c.Authenticate(chal); !errors.Is(err, ErrState) {
		t.Errorf("Authenticate before Negotiate: %v", err)
	}
	if _, err := c.Session(); !errors.Is(err, ErrState) {
		t.Errorf("Session before Authenticate: %v", err)
	}
	if _, err := c.Negotiate(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Negotiate(); !errors.Is(err, ErrState) {
		t.Errorf("second Negotiate: %v", err)
	}

	weak := bytes.Clone(chal)
	binary.LittleEndian.PutUint32(weak[20:], le32(weak[20:])&^Flag128)
	if _, err := c.Authenticate(weak); !errors.Is(err, ErrUnsupported) {
		t.Errorf("challenge without 128-bit keys: %v", err)
	}
	if _, err := c.Authenticate(chal); !errors.Is(err, ErrState) {
		t.Errorf("Authenticate after a failure: %v", err)
	}

	c = newClient()
	_, _ = c.Negotiate()
	if _, err := c.Authenticate(chal[:60]); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated challenge: %v", err)
	}

	if _, err := NewClient(Credentials{Password: "p"}, nil); err == nil {
		t.Error("empty user accepted")
	}
	if _, err := NewClient(Credentials{User: "u", Password: "p\xff"}, nil); err == nil {
		t.Error("invalid UTF-8 password accepted")
	}
	creds := Credentials{Domain: "D", User: "u", Password: "Sekret-123"}
	for _, s := range []string{creds.String(), creds.GoString()} {
		if bytes.Contains([]byte(s), []byte("Sekret")) {
			t.Errorf("%q shows the password", s)
		}
	}
}
