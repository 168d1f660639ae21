package credssp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sessionconnector/sessionconnector/rdp/ntlm"
)

// The TSRequests of the capture freerdp-shadow-nla (FreeRDP 2.11.7 client, user shadowu,
// password Shadow-Pass-1, against the FreeRDP shadow server), in the order they travelled.
var captureFiles = []string{"c2s-1.der", "s2c-1.der", "c2s-2.der", "s2c-2.der", "c2s-3.der"}

const captureNonce = "c98475c271c6507a28c5cd6ce4f7302937b8069f911d5b88b660558c82446c0a"

func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "capture", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCaptureGoldenMatchesCapture checks the golden files against the capture they were cut
// from: after the X.224 frame of each direction, the TSRequests follow one another.
func TestCaptureGoldenMatchesCapture(t *testing.T) {
	dir := "/work/shared/captures/freerdp-shadow-nla"
	for _, dirName := range []string{"c2s", "s2c"} {
		stream, err := os.ReadFile(filepath.Join(dir, dirName+".bin"))
		if err != nil {
			t.Skipf("capture not available: %v", err)
		}
		r := bytes.NewReader(stream)
		if _, err := io.CopyN(io.Discard, r, int64(stream[3])); err != nil { // X.224 frame, < 256 bytes
			t.Fatal(err)
		}
		for i := 1; ; i++ {
			name := dirName + "-" + string(rune('0'+i)) + ".der"
			if _, err := os.Stat(filepath.Join("testdata", "capture", name)); err != nil {
				break
			}
			msg, err := ReadTSRequest(r, 0)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(msg, readGolden(t, name)) {
				t.Errorf("%s differs from the capture", name)
			}
		}
		if b, _ := r.ReadByte(); b != 0x03 {
			t.Errorf("%s: after the TSRequests comes 0x%02x, want a TPKT frame", dirName, b)
		}
	}
}

func TestParseCapture(t *testing.T) {
	reqs := map[string]*TSRequest{}
	for _, name := range captureFiles {
		b := readGolden(t, name)
		r, err := ParseTSRequest(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		reqs[name] = r
		if r.Version != 6 || hex.EncodeToString(r.ClientNonce) != captureNonce || r.ErrorCode != 0 {
			t.Errorf("%s: %v, nonce %x", name, r, r.ClientNonce)
		}
		// FreeRDP's DER is minimal: encoding again gives the same bytes.
		again, err := r.Marshal()
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		if !bytes.Equal(again, b) {
			t.Errorf("%s: Marshal\n got %x\nwant %x", name, again, b)
		}
		if s := r.String(); strings.Contains(s, "NTLMSSP") || strings.Contains(strings.ToLower(s), hex.EncodeToString(r.ClientNonce)) {
			t.Errorf("%s: String shows content: %s", name, s)
		}
	}
	if _, err := ntlm.ParseNegotiate(reqs["c2s-1.der"].NegoTokens[0]); err != nil {
		t.Errorf("NEGOTIATE: %v", err)
	}
	ch, err := ntlm.ParseChallenge(reqs["s2c-1.der"].NegoTokens[0])
	if err != nil {
		t.Fatalf("CHALLENGE: %v", err)
	}
	if hex.EncodeToString(ch.ServerChallenge[:]) != "53e909f6fdc6095e" {
		t.Errorf("server challenge %x", ch.ServerChallenge)
	}
	auth, err := ntlm.ParseAuthenticate(reqs["c2s-2.der"].NegoTokens[0])
	if err != nil {
		t.Fatalf("AUTHENTICATE: %v", err)
	}
	if auth.UserName != "shadowu" || auth.MIC == nil {
		t.Errorf("AUTHENTICATE: %v", auth)
	}
	if n := len(reqs["c2s-2.der"].PubKeyAuth); n != 16+32 {
		t.Errorf("client pubKeyAuth of %d bytes, want a signature and a SHA-256 hash", n)
	}
	if n := len(reqs["s2c-2.der"].PubKeyAuth); n != 16+32 {
		t.Errorf("server pubKeyAuth of %d bytes", n)
	}
	if reqs["c2s-3.der"].AuthInfo == nil || reqs["c2s-3.der"].NegoTokens != nil {
		t.Errorf("third client message: %v", reqs["c2s-3.der"])
	}
}

// captureTSCredentials is the plaintext of the capture's authInfo, as rdp/ntlm's
// TestCaptureKnownAnswers decrypts it with the session key recovered from the password.
const captureTSCredentials = "303fa003020101a13804363034a0020400a110040e7300680061006400" +
	"6f0077007500a21c041a53006800610064006f0077002d005000610073007300" + "2d003100"

func TestPasswordCredsMatchCapture(t *testing.T) {
	b, err := marshalPasswordCreds("", "shadowu", "Shadow-Pass-1")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != captureTSCredentials {
		t.Errorf("TSCredentials\n got %s\nwant %s", got, captureTSCredentials)
	}
	pc, err := parsePasswordCreds(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.domain) != 0 || string(pc.user) != "s\x00h\x00a\x00d\x00o\x00w\x00u\x00" || len(pc.password) != 26 {
		t.Errorf("parsed %q %q (%d-byte password)", pc.domain, pc.user, len(pc.password))
	}

	// Long fields use long-form lengths and still parse; non-BMP runes take surrogate pairs.
	long := strings.Repeat("p", 300) + "😀"
	b, err = marshalPasswordCreds("DOMAIN", "user", long)
	if err != nil {
		t.Fatal(err)
	}
	pc, err = parsePasswordCreds(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.password) != 2*(300+2) {
		t.Errorf("password of %d bytes, want %d", len(pc.password), 2*302)
	}
	if _, err := marshalPasswordCreds("", "u", strings.Repeat("x", maxCredentialUnits+1)); err == nil {
		t.Error("an over-long password was accepted")
	} else if strings.Contains(err.Error(), "xxxx") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestTSRequestRoundTrip(t *testing.T) {
	for name, r := range map[string]*TSRequest{
		"version only":   {Version: 2},
		"version 0":      {Version: 0},
		"error code":     {Version: 6, ErrorCode: StatusLogonFailure},
		"positive error": {Version: 3, ErrorCode: 0x00000005},
		"empty fields":   {Version: 6, NegoTokens: [][]byte{}, AuthInfo: []byte{}, PubKeyAuth: []byte{}, ClientNonce: []byte{}},
		"tokens":         {Version: 6, NegoTokens: [][]byte{bytes.Repeat([]byte{1}, 300), {}, {2}}},
		"large":          {Version: 6, AuthInfo: bytes.Repeat([]byte{3}, 60000)},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := r.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseTSRequest(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("round trip: got %#v, want %#v", got, r)
			}
			read, err := ReadTSRequest(io.MultiReader(bytes.NewReader(b), bytes.NewReader([]byte{0x03, 0, 0})), 0)
			if err != nil || !bytes.Equal(read, b) {
				t.Errorf("ReadTSRequest: %v", err)
			}
		})
	}
}

func TestMarshalLimits(t *testing.T) {
	for name, r := range map[string]*TSRequest{
		"too large":        {Version: 6, AuthInfo: make([]byte, MaxTSRequestLen)},
		"negative version": {Version: -1},
		"too many tokens":  {Version: 6, NegoTokens: make([][]byte, maxNegoTokens+1)},
		"nil":              nil,
	} {
		if _, err := r.Marshal(); err == nil {
			t.Errorf("%s: marshalled", name)
		}
	}
}

func TestParseTSRequestErrors(t *testing.T) {
	for name, h := range map[string]string{
		"empty":              "",
		"not a sequence":     "3100",
		"trailing":           "3005a003020106" + "00",
		"no version":         "3000",
		"indefinite":         "3080a00302010600",
		"out of order":       "3009a3020400a003020106",
		"duplicate":          "300aa003020106a003020106",
		"universal field":    "30050203020106",
		"bad version tag":    "3005a003040106",
		"negative version":   "3005a0030201ff",
		"huge length":        "3085ffffffffff",
		"short":              "3010a003",
		"nego item tag":      "3011a003020106a10a3008a0060404aabbccdd",
		"nego token tag":     "3011a003020106a10a30083006a1040402aabb",
		"error too large":    "300ea003020106a40702050100000000",
		"high tag":           "1f00",
		"integer too long":   "3010a00e020c010203040506070809101112",
		"octets not octets":  "300ba003020106a2040202aabb",
		"two in an explicit": "300fa003020106a2080402000004020000",
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: bad hex: %v", name, err)
		}
		if r, err := ParseTSRequest(b); err == nil {
			t.Errorf("%s: parsed as %v", name, r)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error does not wrap ErrMalformed: %v", name, err)
		}
	}
}

func TestReadTSRequestLimits(t *testing.T) {
	if _, err := ReadTSRequest(bytes.NewReader([]byte{0x30, 0x84, 0x00, 0x10, 0x00, 0x00}), 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("1 MiB header: %v", err)
	}
	if _, err := ReadTSRequest(bytes.NewReader([]byte{0x30, 0x82, 0x01, 0x00, 0x00}), 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over a 100-byte limit: %v", err)
	}
	if _, err := ReadTSRequest(bytes.NewReader([]byte{0x30, 0x05, 0x00}), 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut short: %v", err)
	}
	if _, err := ReadTSRequest(bytes.NewReader(nil), 0); err != io.EOF {
		t.Errorf("empty: %v", err)
	}
	if _, err := ReadTSRequest(bytes.NewReader([]byte{0x03, 0x00, 0x00, 0x13}), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("TPKT instead of TSRequest: %v", err)
	}
	if _, err := ReadTSRequest(bytes.NewReader([]byte{0x30, 0x80}), 0); !errors.Is(err, ErrMalformed) {
		t.Errorf("indefinite length: %v", err)
	}
}
