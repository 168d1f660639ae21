package secretserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

const redacted = "[REDACTED]"

// Credentials log on to Secret Server with the password grant. Domain is
// sent only when set; OTP is a two-factor code sent in the OTP header.
// String, GoString, Format and MarshalLog redact Password and OTP.
// Credentials are not meant to be serialized.
type Credentials struct {
	Username, Password, Domain, OTP string
}

func (c Credentials) String() string {
	return fmt.Sprintf("{Username:%q Domain:%q Password:%s OTP:%s}",
		c.Username, c.Domain, redact(c.Password), redact(c.OTP))
}

// GoString implements fmt.GoStringer (%#v).
func (c Credentials) GoString() string { return "secretserver.Credentials" + c.String() }

// Format implements fmt.Formatter so that no verb prints the password.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, c.GoString())
		return
	}
	_, _ = io.WriteString(f, c.String())
}

// MarshalLog implements logr.Marshaler.
func (c Credentials) MarshalLog() any {
	return map[string]string{"username": c.Username, "domain": c.Domain, "password": redact(c.Password), "otp": redact(c.OTP)}
}

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return redacted
}

// SearchOptions select a page of GET /api/v1/secrets. Take and Skip are sent
// only when positive; the server's defaults apply otherwise.
type SearchOptions struct {
	Text       string
	Take, Skip int
}

// Secret is the answer of GET /api/v1/secrets/{id}. Only the fields the
// Session Connector needs are decoded. String never prints the values of
// password, notes or file items.
type Secret struct {
	ID                        int          `json:"id"`
	Name                      string       `json:"name"`
	SecretTemplateID          int          `json:"secretTemplateId"`
	SecretTemplateName        string       `json:"secretTemplateName"`
	FolderID                  int          `json:"folderId"`
	SiteID                    int          `json:"siteId"`
	Active                    bool         `json:"active"`
	Items                     []SecretItem `json:"items"`
	CheckedOut                bool         `json:"checkedOut"`
	CheckOutEnabled           bool         `json:"checkOutEnabled"`
	RequiresComment           bool         `json:"requiresComment"`
	IsRestricted              bool         `json:"isRestricted"`
	SessionRecordingEnabled   bool         `json:"sessionRecordingEnabled"`
	LauncherConnectAsSecretID int          `json:"launcherConnectAsSecretId"`
}

// SecretItem is one field of a secret.
type SecretItem struct {
	ItemID           int    `json:"itemId"`
	FieldID          int    `json:"fieldId"`
	FieldName        string `json:"fieldName"`
	Slug             string `json:"slug"`
	ItemValue        string `json:"itemValue"`
	IsPassword       bool   `json:"isPassword"`
	IsFile           bool   `json:"isFile"`
	IsNotes          bool   `json:"isNotes"`
	FieldDescription string `json:"fieldDescription"`
	Filename         string `json:"filename"`
}

// Field returns the value of the item whose slug matches slug (case
// insensitive) or, failing that, whose field name does. The fallback exists
// because the slugs "machine" and "notes" are guesses; the field names
// "Machine" and "Notes" are documented.
func (s *Secret) Field(slug string) (string, bool) {
	for _, it := range s.Items {
		if strings.EqualFold(it.Slug, slug) {
			return it.ItemValue, true
		}
	}
	for _, it := range s.Items {
		if strings.EqualFold(it.FieldName, slug) {
			return it.ItemValue, true
		}
	}
	return "", false
}

// Zero replaces the values of password items with empty strings. Go strings
// are immutable, so the old values stay in memory until the garbage
// collector reuses it; Zero only drops this Secret's references to them. The
// client clears the response buffers it decoded secrets from.
func (s *Secret) Zero() {
	if s == nil {
		return
	}
	for i := range s.Items {
		if s.Items[i].IsPassword {
			s.Items[i].ItemValue = ""
		}
	}
}

func (s Secret) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{ID:%d Name:%q Template:%q(%d) Items:[", s.ID, s.Name, s.SecretTemplateName, s.SecretTemplateID)
	for i, it := range s.Items {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(it.String())
	}
	b.WriteString("]}")
	return b.String()
}

// GoString implements fmt.GoStringer (%#v) without item values.
func (s Secret) GoString() string { return "secretserver.Secret" + s.String() }

// MarshalLog implements logr.Marshaler.
func (s Secret) MarshalLog() any { return s.String() }

func (it SecretItem) String() string {
	name := it.Slug
	if name == "" {
		name = it.FieldName
	}
	if it.sensitive() {
		return name + "=" + redact(it.ItemValue)
	}
	return name + "=" + strconv.Quote(it.ItemValue)
}

// GoString implements fmt.GoStringer (%#v).
func (it SecretItem) GoString() string { return "secretserver.SecretItem{" + it.String() + "}" }

// MarshalLog implements logr.Marshaler.
func (it SecretItem) MarshalLog() any { return it.String() }

func (it SecretItem) sensitive() bool { return it.IsPassword || it.IsNotes || it.IsFile }

// SecretSummary is a record of a secret search.
type SecretSummary struct {
	ID                 int    `json:"id"`
	Name               string `json:"name"`
	SecretTemplateID   int    `json:"secretTemplateId"`
	SecretTemplateName string `json:"secretTemplateName"`
	FolderID           int    `json:"folderId"`
	SiteID             int    `json:"siteId"`
	Active             bool   `json:"active"`
	CheckedOut         bool   `json:"checkedOut"`
	IsRestricted       bool   `json:"isRestricted"`
}

// SecretPage is a page of search results.
type SecretPage struct {
	Records []SecretSummary `json:"records"`
	Total   int             `json:"total"`
	Skip    int             `json:"skip"`
	Take    int             `json:"take"`
	HasNext bool            `json:"hasNext"`
}

// AuditRecord is a row of a secret's audit trail. recordingStatus and status
// are not decoded: their JSON types are not documented.
type AuditRecord struct {
	ID                  int       `json:"id"`
	Action              string    `json:"action"`
	ActionForDisplay    string    `json:"actionForDisplay"`
	ByUserDisplayName   string    `json:"byUserDisplayName"`
	DateRecorded        Timestamp `json:"dateRecorded"`
	Notes               string    `json:"notes"`
	Username            string    `json:"username"`
	TicketNumber        string    `json:"ticketNumber"`
	RecordingSessionID  int       `json:"recordingSessionId"`
	HasProxySessionData bool      `json:"hasProxySessionData"`
}

// AuditPage is a page of audit records.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	Total   int           `json:"total"`
	Skip    int           `json:"skip"`
	Take    int           `json:"take"`
	HasNext bool          `json:"hasNext"`
}

// Timestamp is a date sent by Secret Server. RFC 3339 is accepted, and so is
// a date without a UTC offset, which is read as UTC (GUESS: Secret Server
// often omits the offset; the server's time zone cannot be known).
type Timestamp struct{ time.Time }

var timestampLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"}

func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errBadTimestamp
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	for _, l := range timestampLayouts {
		if v, err := time.Parse(l, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return errBadTimestamp
}

func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.Time.Format(time.RFC3339Nano))
}
