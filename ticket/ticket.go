// Package ticket makes and reads the one-time tickets that .rdp files carry.
//
// A ticket has two parts: a public ID, which is the name of its Session, and a secret verifier of
// 144 random bits. Only the SHA-256 of the verifier is stored, so the store can look a ticket up
// by its ID and compare hashes in constant time; nothing stored can be turned back into a ticket.
//
// The text form is "sc1.<id>.<verifier>", 47 URL-safe characters, which fits an X.224
// routing token with room to spare.
package ticket

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

const (
	// Prefix starts every ticket's text and names its format version.
	Prefix = "sc1"
	// IDPrefix starts every ticket ID (and so every Session name).
	IDPrefix = "s-"
	// idRandomBytes of randomness in an ID: 10 bytes, 16 base32 characters.
	idRandomBytes = 10
	// verifierBytes of randomness in the secret part: 18 bytes = 144 bits, 24 base64url characters.
	verifierBytes = 18
	// MaxTextLength is the longest text Parse looks at.
	MaxTextLength = 128
)

// ErrMalformed is returned for text that is not a ticket of this format.
var ErrMalformed = errors.New("malformed ticket")

var (
	idEncoding       = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	verifierEncoding = base64.RawURLEncoding
	idLength         = IDPrefixLen + idEncoding.EncodedLen(idRandomBytes)
	verifierLength   = verifierEncoding.EncodedLen(verifierBytes)
)

// IDPrefixLen is the length of IDPrefix.
const IDPrefixLen = len(IDPrefix)

// Ticket is a parsed or new ticket. Its String method never shows the verifier.
type Ticket struct {
	// ID names the Session; it is not secret.
	ID string
	// verifier is the secret part.
	verifier string
}

// New makes a ticket with a fresh ID and verifier from crypto/rand.
func New() (Ticket, error) {
	idRaw := make([]byte, idRandomBytes)
	verRaw := make([]byte, verifierBytes)
	if _, err := rand.Read(idRaw); err != nil {
		return Ticket{}, fmt.Errorf("read random ticket id: %w", err)
	}
	if _, err := rand.Read(verRaw); err != nil {
		return Ticket{}, fmt.Errorf("read random ticket verifier: %w", err)
	}
	return Ticket{ID: IDPrefix + idEncoding.EncodeToString(idRaw), verifier: verifierEncoding.EncodeToString(verRaw)}, nil
}

// Parse reads a ticket's text. Surrounding white space (clients pad routing tokens) is ignored.
// Errors never contain the text.
func Parse(text string) (Ticket, error) {
	if len(text) > MaxTextLength {
		return Ticket{}, fmt.Errorf("%w: %d characters is too long", ErrMalformed, len(text))
	}
	text = strings.TrimSpace(text)
	prefix, rest, ok := strings.Cut(text, ".")
	if !ok || prefix != Prefix {
		return Ticket{}, fmt.Errorf("%w: does not start with %q", ErrMalformed, Prefix+".")
	}
	id, verifier, ok := strings.Cut(rest, ".")
	if !ok {
		return Ticket{}, fmt.Errorf("%w: no verifier part", ErrMalformed)
	}
	if len(id) != idLength || !strings.HasPrefix(id, IDPrefix) || !isAlphabet(id[IDPrefixLen:], "abcdefghijklmnopqrstuvwxyz234567") {
		return Ticket{}, fmt.Errorf("%w: id part is not %d characters of [a-z2-7] after %q", ErrMalformed, idLength-IDPrefixLen, IDPrefix)
	}
	if len(verifier) != verifierLength || !isAlphabet(verifier, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		return Ticket{}, fmt.Errorf("%w: verifier part is not %d base64url characters", ErrMalformed, verifierLength)
	}
	return Ticket{ID: id, verifier: verifier}, nil
}

// ValidID reports whether id has the form of a ticket ID (and so can name a Session).
func ValidID(id string) bool {
	return len(id) == idLength && strings.HasPrefix(id, IDPrefix) && isAlphabet(id[IDPrefixLen:], "abcdefghijklmnopqrstuvwxyz234567")
}

func isAlphabet(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// Text is the ticket as it goes into a .rdp file. It is a secret: never log it.
func (t Ticket) Text() string { return Prefix + "." + t.ID + "." + t.verifier }

// String shows the ticket's ID only, so a ticket that reaches a log by mistake gives nothing away.
func (t Ticket) String() string { return Prefix + "." + t.ID + ".***" }

// GoString is String, for %#v.
func (t Ticket) GoString() string { return t.String() }

// Hash is the hex SHA-256 of the verifier, the only form in which a store keeps it.
func (t Ticket) Hash() string {
	sum := sha256.Sum256([]byte(t.verifier))
	return hex.EncodeToString(sum[:])
}

// Matches reports in constant time whether hash is this ticket's Hash.
func (t Ticket) Matches(hash string) bool {
	want, err := hex.DecodeString(hash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(t.verifier))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}
