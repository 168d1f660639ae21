package ntlm

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

func addCaptureSeeds(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(readCapture(f, n))
	}
}

// FuzzParseChallenge: no panic on any input; a challenge that parses has AV pairs that survive a
// marshal/parse round trip, and the client either answers it with an AUTHENTICATE_MESSAGE that
// parses back or refuses it with an error.
func FuzzParseChallenge(f *testing.F) {
	addCaptureSeeds(f, "challenge.bin")
	f.Add(unhex(f, specChallenge))
	f.Add([]byte(Signature + "\x02\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ch, err := ParseChallenge(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if ch.TargetInfo != nil {
			enc, err := MarshalAVPairs(ch.TargetInfo)
			if err != nil {
				t.Fatalf("MarshalAVPairs of parsed pairs: %v", err)
			}
			again, err := ParseAVPairs(enc)
			if err != nil || !reflect.DeepEqual(again, ch.TargetInfo) {
				t.Fatalf("AV pair round trip: %v", err)
			}
		}
		c, err := NewClient(Credentials{User: "u", Password: "p"}, &Options{
			Rand: bytes.NewReader(make([]byte, 24)),
			Now:  func() time.Time { return time.Unix(0, 0) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Negotiate(); err != nil {
			t.Fatal(err)
		}
		auth, err := c.Authenticate(b)
		if err != nil {
			return
		}
		m, err := ParseAuthenticate(auth)
		if err != nil {
			t.Fatalf("own AUTHENTICATE_MESSAGE does not parse: %v", err)
		}
		if m.MIC == nil || m.UserName != "u" {
			t.Fatalf("own AUTHENTICATE_MESSAGE: %v", m)
		}
	})
}

// FuzzParseAuthenticate: no panic on any input.
func FuzzParseAuthenticate(f *testing.F) {
	addCaptureSeeds(f, "authenticate.bin", "negotiate.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseAuthenticate(b); err == nil && m.NtChallengeResponse != nil {
			_, _, _ = NTLMv2Blob(m.NtChallengeResponse)
		}
		_, _ = ParseNegotiate(b)
	})
}

// FuzzUnseal: no panic on any input; a forged message does not unseal and leaves the session able
// to open the next genuine one; Seal then Unseal returns the plaintext.
func FuzzUnseal(f *testing.F) {
	addCaptureSeeds(f, "pubkeyauth-s2c.bin", "pubkeyauth-c2s.bin", "authinfo-c2s.bin")
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	var key [16]byte
	copy(key[:], bytes.Repeat([]byte{0x55}, 16))
	const flags = ClientFlags
	f.Fuzz(func(t *testing.T, msg []byte) {
		cli, err := newSession(&key, flags, false)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := newSession(&key, flags, true)
		if err != nil {
			t.Fatal(err)
		}
		genuine, err := srv.Seal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := cli.Unseal(msg); err == nil {
			// Forging the 64-bit checksum by chance is not going to happen.
			t.Fatalf("forged message of %d bytes unsealed to %x", len(msg), plain)
		}
		plain, err := cli.Unseal(genuine)
		if err != nil {
			t.Fatalf("genuine message after a rejected one: %v", err)
		}
		if !bytes.Equal(plain, msg) {
			t.Fatalf("round trip: got %x, want %x", plain, msg)
		}
	})
}
