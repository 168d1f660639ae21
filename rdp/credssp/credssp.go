// Package credssp is the client side of CredSSP (MS-CSSP), the Network Level Authentication of
// RDP, with NTLMv2 (package rdp/ntlm) as the authentication package: over a TLS connection
// already established with the target, it authenticates with NTLM, binds the authentication to
// the server's TLS public key and sends the user's password credentials, sealed, so that the
// target can log the user on.
//
// Version: the client announces version 6 and works with servers answering 2 to 6 (a higher
// answer is treated as 6). From version 5 the public key binding is the SHA-256 hash with the
// 32-byte client nonce (MS-CSSP 3.1.5, the fix of CVE-2018-0886); for versions 2 to 4 it is the
// older scheme, the sealed SubjectPublicKey answered by the server with its first byte
// incremented. Options.MinServerVersion = 5 refuses the older scheme.
//
// Nothing secret appears in errors, logs or String results: not the password, not the NTLM
// messages (their responses allow offline guessing), not the TSCredentials. The buffer holding
// the encoded TSCredentials is zeroed after sealing.
package credssp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/ntlm"
)

// Version is the CredSSP version this client announces.
const Version = 6

// NonceLen is the length of the client nonce of versions 5 and later.
const NonceLen = 32

// Binding hash magics of MS-CSSP 3.1.5, NUL included.
const (
	clientServerHashMagic = "CredSSP Client-To-Server Binding Hash\x00"
	serverClientHashMagic = "CredSSP Server-To-Client Binding Hash\x00"
)

var (
	// ErrAuthFailed reports that the target refused the credentials: an NTSTATUS error code
	// about the logon (see ServerError), or a connection the target closed right after the
	// NTLM AUTHENTICATE_MESSAGE, which is what servers without error codes (and FreeRDP) do
	// on a wrong password.
	ErrAuthFailed = errors.New("credssp: the target refused the credentials")
	// ErrBinding reports a public key binding from the server that does not verify: the TLS
	// public key given is not the one the server authenticated, which may be a man in the
	// middle.
	ErrBinding = errors.New("credssp: the server's public key binding does not verify")
	// ErrProtocol reports a server that does not follow the protocol (unexpected or missing
	// fields, an unsupported version).
	ErrProtocol = errors.New("credssp: protocol error")
)

// ServerError is an error code (NTSTATUS) the target sent in a TSRequest. It matches
// ErrAuthFailed with errors.Is when the status is about the logon (wrong password, unknown user,
// disabled, locked or expired account, logon restrictions).
type ServerError struct {
	Status uint32
}

func (e *ServerError) Error() string {
	if isLogonFailure(e.Status) {
		return fmt.Sprintf("credssp: the target refused the credentials: %s", statusName(e.Status))
	}
	return fmt.Sprintf("credssp: the target reported an error: %s", statusName(e.Status))
}

// Is makes errors.Is(err, ErrAuthFailed) true for logon failures.
func (e *ServerError) Is(target error) bool {
	return target == ErrAuthFailed && isLogonFailure(e.Status)
}

// NTSTATUS values a CredSSP server may send (MS-ERREF 2.3.1).
const (
	StatusLogonFailure                 uint32 = 0xC000006D
	StatusWrongPassword                uint32 = 0xC000006A
	StatusNoSuchUser                   uint32 = 0xC0000064
	StatusAccountRestriction           uint32 = 0xC000006E
	StatusInvalidLogonHours            uint32 = 0xC000006F
	StatusInvalidWorkstation           uint32 = 0xC0000070
	StatusPasswordExpired              uint32 = 0xC0000071
	StatusAccountDisabled              uint32 = 0xC0000072
	StatusAccountExpired               uint32 = 0xC0000193
	StatusPasswordMustChange           uint32 = 0xC0000224
	StatusAccountLockedOut             uint32 = 0xC0000234
	StatusLogonTypeNotGranted          uint32 = 0xC000015B
	StatusAuthenticationFirewallFailed uint32 = 0xC0000413
	StatusAccessDenied                 uint32 = 0xC0000022
	StatusNotSupported                 uint32 = 0xC00000BB
)

func isLogonFailure(s uint32) bool {
	switch s {
	case StatusLogonFailure, StatusWrongPassword, StatusNoSuchUser, StatusAccountRestriction,
		StatusInvalidLogonHours, StatusInvalidWorkstation, StatusPasswordExpired,
		StatusAccountDisabled, StatusAccountExpired, StatusPasswordMustChange,
		StatusAccountLockedOut, StatusLogonTypeNotGranted, StatusAuthenticationFirewallFailed,
		StatusAccessDenied:
		return true
	}
	return false
}

// statusName names an NTSTATUS, with its value.
func statusName(s uint32) string {
	name := ""
	switch s {
	case StatusLogonFailure:
		name = "STATUS_LOGON_FAILURE"
	case StatusWrongPassword:
		name = "STATUS_WRONG_PASSWORD"
	case StatusNoSuchUser:
		name = "STATUS_NO_SUCH_USER"
	case StatusAccountRestriction:
		name = "STATUS_ACCOUNT_RESTRICTION"
	case StatusInvalidLogonHours:
		name = "STATUS_INVALID_LOGON_HOURS"
	case StatusInvalidWorkstation:
		name = "STATUS_INVALID_WORKSTATION"
	case StatusPasswordExpired:
		name = "STATUS_PASSWORD_EXPIRED"
	case StatusAccountDisabled:
		name = "STATUS_ACCOUNT_DISABLED"
	case StatusAccountExpired:
		name = "STATUS_ACCOUNT_EXPIRED"
	case StatusPasswordMustChange:
		name = "STATUS_PASSWORD_MUST_CHANGE"
	case StatusAccountLockedOut:
		name = "STATUS_ACCOUNT_LOCKED_OUT"
	case StatusLogonTypeNotGranted:
		name = "STATUS_LOGON_TYPE_NOT_GRANTED"
	case StatusAuthenticationFirewallFailed:
		name = "STATUS_AUTHENTICATION_FIREWALL_FAILED"
	case StatusAccessDenied:
		name = "STATUS_ACCESS_DENIED"
	case StatusNotSupported:
		name = "STATUS_NOT_SUPPORTED"
	default:
		return fmt.Sprintf("NTSTATUS 0x%08X", s)
	}
	return fmt.Sprintf("%s (0x%08X)", name, s)
}

// Options tune Authenticate. The zero value is ready to use.
type Options struct {
	// Rand supplies the client nonce and NTLM's client challenge and session key;
	// crypto/rand.Reader when nil.
	Rand io.Reader
	// Now is NTLM's clock, used when the server sends no timestamp; time.Now when nil.
	Now func() time.Time
	// TargetName is the service principal name sent in NTLM's MsvAvTargetName, normally
	// "TERMSRV/" + the target's host name; omitted when empty.
	TargetName string
	// Workstation is the client's NetBIOS name sent in NTLM, if any.
	Workstation string
	// MinServerVersion refuses servers answering a lower CredSSP version; 2 when zero. Set it
	// to 5 to require the nonce-based public key binding.
	MinServerVersion int
	// MaxMessageLen bounds each TSRequest read; MaxTSRequestLen when zero or larger.
	MaxMessageLen int
}

// SubjectPublicKey returns the bytes CredSSP binds to: the contents of the subjectPublicKey BIT
// STRING of the certificate's SubjectPublicKeyInfo (for RSA, the DER RSAPublicKey), without
// the AlgorithmIdentifier and without the BIT STRING's unused-bits byte (MS-CSSP 3.1.5).
func SubjectPublicKey(cert *x509.Certificate) ([]byte, error) {
	if cert == nil {
		return nil, errors.New("credssp: nil certificate")
	}
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki)
	if err != nil {
		return nil, fmt.Errorf("credssp: certificate SubjectPublicKeyInfo: %w", err)
	}
	if len(rest) != 0 || spki.PublicKey.BitLength%8 != 0 || len(spki.PublicKey.Bytes) == 0 {
		return nil, errors.New("credssp: certificate SubjectPublicKeyInfo is not a whole-byte public key")
	}
	return spki.PublicKey.Bytes, nil
}

// PublicKeyFromTLS returns SubjectPublicKey of the server's leaf certificate.
func PublicKeyFromTLS(cs tls.ConnectionState) ([]byte, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("credssp: the TLS server sent no certificate")
	}
	return SubjectPublicKey(cs.PeerCertificates[0])
}

// Authenticate runs the client side of CredSSP on conn, a TLS connection to the target (or
// anything carrying its plaintext), for creds. serverPublicKey is the SubjectPublicKey of the
// target's TLS certificate (see PublicKeyFromTLS). It returns nil once the sealed TSCredentials
// have been sent after the server proved it knows the session key and the same public key; with
// PROTOCOL_HYBRID_EX the caller then reads the Early User Authorization Result.
//
// Errors: ErrAuthFailed (possibly a *ServerError) when the target refuses the credentials,
// ErrBinding when the public key binding does not verify, ErrProtocol, ErrMalformed,
// ErrTooLarge, I/O errors and ctx's error.
//
// Deadlines: when conn has SetDeadline (net.Conn does), a deadline of ctx is applied to it and
// cleared on return, and cancelling ctx interrupts a blocked read or write by setting a past
// deadline — the connection should then be closed. Other deadlines are the caller's to set.
func Authenticate(ctx context.Context, conn io.ReadWriter, serverPublicKey []byte, creds ntlm.Credentials, opts *Options) (err error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.MinServerVersion == 0 {
		o.MinServerVersion = 2
	}
	if o.MinServerVersion < 2 || o.MinServerVersion > Version {
		return fmt.Errorf("credssp: MinServerVersion %d outside 2..%d", o.MinServerVersion, Version)
	}
	if o.MaxMessageLen <= 0 || o.MaxMessageLen > MaxTSRequestLen {
		o.MaxMessageLen = MaxTSRequestLen
	}
	if len(serverPublicKey) == 0 {
		return errors.New("credssp: empty server public key")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("credssp: %w", err)
	}
	if d, ok := conn.(interface{ SetDeadline(time.Time) error }); ok {
		if dl, ok := ctx.Deadline(); ok {
			if err := d.SetDeadline(dl); err != nil {
				return fmt.Errorf("credssp: set deadline: %w", err)
			}
			defer func() { _ = d.SetDeadline(time.Time{}) }()
		}
		interrupted := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			defer close(interrupted)
			_ = d.SetDeadline(time.Unix(1, 0))
		})
		defer func() {
			if !stop() {
				<-interrupted
				if err == nil {
					err = fmt.Errorf("credssp: %w", ctx.Err())
				}
			}
		}()
	}

	r := &run{ctx: ctx, conn: conn, opts: &o, pub: serverPublicKey}
	return r.authenticate(creds)
}

// run is one Authenticate call.
type run struct {
	ctx  context.Context
	conn io.ReadWriter
	opts *Options
	pub  []byte
}

func (r *run) authenticate(creds ntlm.Credentials) error {
	client, err := ntlm.NewClient(creds, &ntlm.Options{
		Rand:        r.opts.Rand,
		Now:         r.opts.Now,
		TargetName:  r.opts.TargetName,
		Workstation: r.opts.Workstation,
	})
	if err != nil {
		return fmt.Errorf("credssp: %w", err)
	}
	defer client.Close()
	nonce := make([]byte, NonceLen)
	if _, err := io.ReadFull(r.opts.Rand, nonce); err != nil {
		return fmt.Errorf("credssp: read client nonce: %w", err)
	}

	// 1. NEGOTIATE_MESSAGE.
	negotiate, err := client.Negotiate()
	if err != nil {
		return fmt.Errorf("credssp: %w", err)
	}
	if err := r.send(&TSRequest{Version: Version, NegoTokens: [][]byte{negotiate}, ClientNonce: nonce}, "NTLM negotiate"); err != nil {
		return err
	}

	// 2. CHALLENGE_MESSAGE.
	resp, err := r.receive("NTLM challenge", false)
	if err != nil {
		return err
	}
	if resp.Version < r.opts.MinServerVersion {
		return fmt.Errorf("%w: the server speaks CredSSP version %d, at least %d is required", ErrProtocol, resp.Version, r.opts.MinServerVersion)
	}
	version := min(resp.Version, Version)
	if len(resp.NegoTokens) != 1 {
		return fmt.Errorf("%w: %d negoTokens where the NTLM challenge was expected", ErrProtocol, len(resp.NegoTokens))
	}

	// 3. AUTHENTICATE_MESSAGE with the sealed public key binding.
	authenticate, err := client.Authenticate(resp.NegoTokens[0])
	if err != nil {
		return fmt.Errorf("credssp: %w", err)
	}
	session, err := client.Session() // closed by client.Close
	if err != nil {
		return fmt.Errorf("credssp: %w", err)
	}
	var binding []byte
	if version >= 5 {
		binding = bindingHash(clientServerHashMagic, nonce, r.pub)
	} else {
		binding = r.pub
	}
	pubKeyAuth, err := session.Seal(binding)
	if err != nil {
		return fmt.Errorf("credssp: seal public key binding: %w", err)
	}
	req := &TSRequest{Version: Version, NegoTokens: [][]byte{authenticate}, PubKeyAuth: pubKeyAuth}
	if version >= 5 {
		req.ClientNonce = nonce
	}
	if err := r.send(req, "NTLM authenticate"); err != nil {
		return err
	}

	// 4. The server's binding: proof that it holds the session key and saw the same public key.
	resp, err = r.receive("server public key binding", true)
	if err != nil {
		return err
	}
	if resp.PubKeyAuth == nil {
		return fmt.Errorf("%w: the server's answer to the NTLM authenticate message has no pubKeyAuth", ErrProtocol)
	}
	got, err := session.Unseal(resp.PubKeyAuth)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBinding, err)
	}
	var want []byte
	if version >= 5 {
		want = bindingHash(serverClientHashMagic, nonce, r.pub)
	} else {
		want = append([]byte(nil), r.pub...)
		want[0]++
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return fmt.Errorf("%w (CredSSP version %d): the TLS certificate given is not the one the server bound", ErrBinding, version)
	}

	// 5. The credentials.
	tsCreds, err := marshalPasswordCreds(creds.Domain, creds.User, creds.Password)
	if err != nil {
		return err
	}
	authInfo, err := session.Seal(tsCreds)
	clear(tsCreds)
	if err != nil {
		return fmt.Errorf("credssp: seal credentials: %w", err)
	}
	req = &TSRequest{Version: Version, AuthInfo: authInfo}
	if version >= 5 {
		req.ClientNonce = nonce
	}
	return r.send(req, "credentials")
}

// bindingHash is SHA256(magic + nonce + SubjectPublicKey).
func bindingHash(magic string, nonce, pub []byte) []byte {
	h := sha256.New()
	h.Write([]byte(magic))
	h.Write(nonce)
	h.Write(pub)
	return h.Sum(nil)
}

func (r *run) send(req *TSRequest, step string) error {
	b, err := req.Marshal()
	if err != nil {
		return fmt.Errorf("credssp: encode %s: %w", step, err)
	}
	if _, err := r.conn.Write(b); err != nil {
		return r.ioError("send "+step, err)
	}
	return nil
}

// receive reads and parses a TSRequest and turns an error code into a ServerError. afterAuth
// tells that the NTLM AUTHENTICATE_MESSAGE has been sent, so that a connection closed now
// means a refusal.
func (r *run) receive(step string, afterAuth bool) (*TSRequest, error) {
	b, err := ReadTSRequest(r.conn, r.opts.MaxMessageLen)
	if err != nil {
		if afterAuth && r.ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)) {
			return nil, fmt.Errorf("%w: it closed the connection after the NTLM authenticate message without an error code "+
				"(a wrong password or unknown user, or a public key binding that does not match its certificate): %v", ErrAuthFailed, err)
		}
		if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("credssp: read %s: %w", step, err)
		}
		return nil, r.ioError("read "+step, err)
	}
	resp, err := ParseTSRequest(b)
	if err != nil {
		return nil, fmt.Errorf("credssp: read %s: %w", step, err)
	}
	if resp.ErrorCode != 0 {
		return nil, &ServerError{Status: resp.ErrorCode}
	}
	return resp, nil
}

func (r *run) ioError(step string, err error) error {
	ctxErr := r.ctx.Err()
	if dl, ok := r.ctx.Deadline(); ok && ctxErr == nil && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(dl) {
		// The connection's deadline, set from ctx, fired a moment before ctx noticed.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil {
		return fmt.Errorf("credssp: %s: %w (%v)", step, ctxErr, err)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("credssp: %s: %w", step, err)
}

// isReset reports a connection reset by the peer.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
