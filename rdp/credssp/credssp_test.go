package credssp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/sessionconnector/sessionconnector/rdp/ntlm"
)

// constReader yields the same byte forever: with it the client's nonce, client challenge and
// random session key are known to the fake server.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

const fakeRand = constReader(0x55)

var testCreds = ntlm.Credentials{Domain: "DOM", User: "alice", Password: "Pässwörd-1😀"}

// fakeServer is the server side of CredSSP as far as the client can be checked without the
// password: it answers with a real CHALLENGE_MESSAGE (the capture's), opens the client's sealed
// fields with the session key the client draws from fakeRand, and checks the bindings.
type fakeServer struct {
	version          int
	pub              []byte // the public key the server binds to
	errorOnNegotiate uint32
	errorAfterAuth   uint32
	closeAfterAuth   bool
	silent           bool
	oversized        bool
	wrongBinding     bool

	creds chan [3]string
}

func utf16String(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u))
}

func (f *fakeServer) serve(conn net.Conn) error {
	defer conn.Close()
	read := func() (*TSRequest, error) {
		b, err := ReadTSRequest(conn, 0)
		if err != nil {
			return nil, err
		}
		return ParseTSRequest(b)
	}
	send := func(r *TSRequest) error {
		b, err := r.Marshal()
		if err != nil {
			return err
		}
		_, err = conn.Write(b)
		return err
	}

	req, err := read()
	if err != nil {
		return fmt.Errorf("read negotiate: %w", err)
	}
	if req.Version != Version || len(req.NegoTokens) != 1 || len(req.ClientNonce) != NonceLen {
		return fmt.Errorf("first request %v", req)
	}
	nonce := req.ClientNonce
	if _, err := ntlm.ParseNegotiate(req.NegoTokens[0]); err != nil {
		return err
	}
	if f.silent {
		_, _ = conn.Read(make([]byte, 1))
		return nil
	}
	if f.errorOnNegotiate != 0 {
		return send(&TSRequest{Version: f.version, ErrorCode: f.errorOnNegotiate})
	}
	captured, err := os.ReadFile(filepath.Join("testdata", "capture", "s2c-1.der"))
	if err != nil {
		return err
	}
	challengeReq, err := ParseTSRequest(captured)
	if err != nil {
		return err
	}
	if err := send(&TSRequest{Version: f.version, NegoTokens: challengeReq.NegoTokens}); err != nil {
		return err
	}

	if req, err = read(); err != nil {
		return fmt.Errorf("read authenticate: %w", err)
	}
	if len(req.NegoTokens) != 1 || req.PubKeyAuth == nil {
		return fmt.Errorf("second request %v", req)
	}
	auth, err := ntlm.ParseAuthenticate(req.NegoTokens[0])
	if err != nil {
		return err
	}
	if auth.UserName != testCreds.User || auth.DomainName != testCreds.Domain {
		return fmt.Errorf("AUTHENTICATE for %q\\%q", auth.DomainName, auth.UserName)
	}
	session, err := ntlm.NewSession(bytes.Repeat([]byte{byte(fakeRand)}, 16), auth.Flags, ntlm.RoleServer)
	if err != nil {
		return err
	}
	got, err := session.Unseal(req.PubKeyAuth)
	if err != nil {
		return fmt.Errorf("client pubKeyAuth: %w", err)
	}
	hash := func(magic string, pub []byte) []byte {
		h := sha256.Sum256(append(append([]byte(magic), nonce...), pub...))
		return h[:]
	}
	var want, reply []byte
	if f.version >= 5 {
		want = hash(clientServerHashMagic, f.pub)
		reply = hash(serverClientHashMagic, f.pub)
		if !bytes.Equal(req.ClientNonce, nonce) {
			return fmt.Errorf("second request without the nonce")
		}
	} else {
		want = f.pub
		reply = append([]byte{f.pub[0] + 1}, f.pub[1:]...)
		if req.ClientNonce != nil {
			return fmt.Errorf("nonce sent to a version %d server", f.version)
		}
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("client binding %x, want %x", got, want)
	}
	switch {
	case f.errorAfterAuth != 0:
		return send(&TSRequest{Version: f.version, ErrorCode: f.errorAfterAuth})
	case f.closeAfterAuth:
		return nil
	case f.oversized:
		_, err := conn.Write([]byte{0x30, 0x84, 0x00, 0x10, 0x00, 0x00})
		return err
	case f.wrongBinding:
		reply[len(reply)-1] ^= 1
	}
	sealed, err := session.Seal(reply)
	if err != nil {
		return err
	}
	if err := send(&TSRequest{Version: f.version, PubKeyAuth: sealed}); err != nil {
		return err
	}
	if f.wrongBinding {
		_, _ = conn.Read(make([]byte, 1))
		return nil
	}

	if req, err = read(); err != nil {
		return fmt.Errorf("read credentials: %w", err)
	}
	plain, err := session.Unseal(req.AuthInfo)
	if err != nil {
		return fmt.Errorf("authInfo: %w", err)
	}
	pc, err := parsePasswordCreds(plain)
	if err != nil {
		return err
	}
	f.creds <- [3]string{utf16String(pc.domain), utf16String(pc.user), utf16String(pc.password)}
	return nil
}

// runFake runs Authenticate against f over a pipe and returns the client's error and the
// server's.
func runFake(t *testing.T, ctx context.Context, f *fakeServer, opts *Options) (clientErr, serverErr error) {
	t.Helper()
	if f.pub == nil {
		f.pub = []byte{0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00, 0xc0, 0xff, 0xee}
	}
	f.creds = make(chan [3]string, 1)
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- f.serve(server) }()
	if opts == nil {
		opts = &Options{}
	}
	opts.Rand = fakeRand
	clientErr = Authenticate(ctx, client, f.pub, testCreds, opts)
	client.Close()
	serverErr = <-done
	if clientErr != nil && strings.Contains(clientErr.Error(), testCreds.Password) {
		t.Errorf("error shows the password: %v", clientErr)
	}
	return clientErr, serverErr
}

func TestAuthenticateVersions(t *testing.T) {
	for v := 2; v <= 7; v++ {
		t.Run(fmt.Sprintf("server version %d", v), func(t *testing.T) {
			f := &fakeServer{version: v}
			cerr, serr := runFake(t, context.Background(), f, nil)
			if cerr != nil || serr != nil {
				t.Fatalf("client: %v; server: %v", cerr, serr)
			}
			got := <-f.creds
			if got != [3]string{testCreds.Domain, testCreds.User, testCreds.Password} {
				t.Errorf("server received %q\\%q and a password of %d runes", got[0], got[1], len([]rune(got[2])))
			}
		})
	}
}

func TestAuthenticateFailures(t *testing.T) {
	for name, tc := range map[string]struct {
		f      fakeServer
		opts   Options
		is     []error
		not    []error
		status uint32
		text   string
	}{
		"logon failure": {
			f:      fakeServer{version: 6, errorAfterAuth: StatusLogonFailure},
			is:     []error{ErrAuthFailed},
			status: StatusLogonFailure,
			text:   "the target refused the credentials: STATUS_LOGON_FAILURE (0xC000006D)",
		},
		"account locked": {
			f:      fakeServer{version: 4, errorAfterAuth: StatusAccountLockedOut},
			is:     []error{ErrAuthFailed},
			status: StatusAccountLockedOut,
			text:   "STATUS_ACCOUNT_LOCKED_OUT",
		},
		"closed after authenticate": {
			f:    fakeServer{version: 6, closeAfterAuth: true},
			is:   []error{ErrAuthFailed},
			text: "closed the connection after the NTLM authenticate message",
		},
		"error on negotiate": {
			f:      fakeServer{version: 6, errorOnNegotiate: StatusNotSupported},
			not:    []error{ErrAuthFailed},
			status: StatusNotSupported,
			text:   "the target reported an error: STATUS_NOT_SUPPORTED (0xC00000BB)",
		},
		"wrong binding": {
			f:  fakeServer{version: 6, wrongBinding: true},
			is: []error{ErrBinding},
		},
		"wrong binding v3": {
			f:  fakeServer{version: 3, wrongBinding: true},
			is: []error{ErrBinding},
		},
		"old server refused": {
			f:    fakeServer{version: 4, closeAfterAuth: true},
			opts: Options{MinServerVersion: 5},
			is:   []error{ErrProtocol},
			text: "version 4",
		},
		"oversized answer": {
			f:  fakeServer{version: 6, oversized: true},
			is: []error{ErrTooLarge},
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := tc.f
			opts := tc.opts
			err, _ := runFake(t, context.Background(), &f, &opts)
			if err == nil {
				t.Fatal("Authenticate succeeded")
			}
			for _, want := range tc.is {
				if !errors.Is(err, want) {
					t.Errorf("error %q is not %q", err, want)
				}
			}
			for _, unwanted := range tc.not {
				if errors.Is(err, unwanted) {
					t.Errorf("error %q is %q", err, unwanted)
				}
			}
			var se *ServerError
			if errors.As(err, &se) != (tc.status != 0) || se != nil && se.Status != tc.status {
				t.Errorf("error %q: ServerError %v, want status 0x%08X", err, se, tc.status)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
		})
	}
}

func TestAuthenticateContext(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err, _ := runFake(t, ctx, &fakeServer{version: 6, silent: true}, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("returned after %s", d)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		err, _ := runFake(t, ctx, &fakeServer{version: 6, silent: true}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want Canceled", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		client, server := net.Pipe()
		defer server.Close()
		defer client.Close()
		if err := Authenticate(ctx, client, []byte{1}, testCreds, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want Canceled", err)
		}
	})
}

func TestAuthenticateBadInput(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	defer client.Close()
	ctx := context.Background()
	if err := Authenticate(ctx, client, nil, testCreds, nil); err == nil {
		t.Error("empty public key accepted")
	}
	if err := Authenticate(ctx, client, []byte{1}, testCreds, &Options{MinServerVersion: 7}); err == nil {
		t.Error("MinServerVersion 7 accepted")
	}
	if err := Authenticate(ctx, client, []byte{1}, ntlm.Credentials{Password: "x"}, &Options{}); err == nil {
		t.Error("empty user accepted")
	}
}

func TestSubjectPublicKey(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "target"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SubjectPublicKey(cert)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pub.Bytes()) {
		t.Errorf("SubjectPublicKey %x, want the uncompressed point %x", got, pub.Bytes())
	}
	if !bytes.HasSuffix(cert.RawSubjectPublicKeyInfo, got) || len(got) >= len(cert.RawSubjectPublicKeyInfo) {
		t.Errorf("SubjectPublicKey is not the tail of SubjectPublicKeyInfo")
	}
	if _, err := SubjectPublicKey(nil); err == nil {
		t.Error("nil certificate accepted")
	}
}

func TestServerErrorStrings(t *testing.T) {
	for status, want := range map[uint32]string{
		StatusLogonFailure: "credssp: the target refused the credentials: STATUS_LOGON_FAILURE (0xC000006D)",
		0xC0000001:         "credssp: the target reported an error: NTSTATUS 0xC0000001",
	} {
		if got := (&ServerError{Status: status}).Error(); got != want {
			t.Errorf("0x%08X: %q, want %q", status, got, want)
		}
	}
	r := &TSRequest{Version: 6, ErrorCode: StatusLogonFailure, NegoTokens: [][]byte{[]byte("NTLMSSP\x00secret")}}
	if s := fmt.Sprintf("%v %+v %#v", r, r, r); strings.Contains(s, "secret") {
		t.Errorf("formatting shows a token: %s", s)
	}
}
