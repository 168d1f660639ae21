package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// Seed is the initial content of an Emulator: users who can log on and the
// secrets they may view. It is read from YAML (JSON field names).
type Seed struct {
	Users   []SeedUser   `json:"users"`
	Secrets []SeedSecret `json:"secrets"`
}

// SeedUser is a Secret Server user. Usernames are case-insensitive.
type SeedUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Domain must be sent with the password grant when set, and not sent
	// otherwise (case-insensitive).
	Domain string `json:"domain,omitempty"`
	// OTP, when set, must be sent in the OTP header of the password grant.
	OTP string `json:"otp,omitempty"`
	// ApplicationAccount is informational: every login goes through the API
	// here, which is all an application account may do anyway.
	ApplicationAccount bool `json:"applicationAccount,omitempty"`
}

// SeedSecret is a secret. Fields are keyed by slug (or field name); the
// built-in templates "Windows Account" and "Active Directory Account" accept
// only their own fields and always have all of them.
type SeedSecret struct {
	ID       int               `json:"id"`
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Fields   map[string]string `json:"fields"`
	// Viewers are the usernames that may view the secret. Everyone else gets
	// the same answer as for a secret that does not exist.
	Viewers []string `json:"viewers"`
	// RequiresComment and SessionRecordingEnabled are only reported in the
	// secret's JSON; the emulator does not enforce them.
	RequiresComment         bool `json:"requiresComment,omitempty"`
	SessionRecordingEnabled bool `json:"sessionRecordingEnabled,omitempty"`
}

// Built-in template ids and names (documented).
const (
	WindowsAccountTemplateID         = 6003
	ActiveDirectoryAccountTemplateID = 6001
	WindowsAccountTemplate           = "Windows Account"
	ActiveDirectoryAccountTemplate   = "Active Directory Account"
	firstCustomTemplateID            = 7000
)

type fieldDef struct{ name, slug string }

// builtinFields returns the fields of a built-in template. The slugs
// "machine" and "notes" are GUESSES; the others are documented.
func builtinFields(templateID int) []fieldDef {
	switch templateID {
	case WindowsAccountTemplateID:
		return []fieldDef{{"Machine", "machine"}, {"Username", "username"}, {"Password", "password"}, {"Notes", "notes"}}
	case ActiveDirectoryAccountTemplateID:
		return []fieldDef{{"Domain", "domain"}, {"Username", "username"}, {"Password", "password"}, {"Notes", "notes"}}
	}
	return nil
}

func builtinTemplateID(name string) (int, string, bool) {
	switch {
	case strings.EqualFold(name, WindowsAccountTemplate):
		return WindowsAccountTemplateID, WindowsAccountTemplate, true
	case strings.EqualFold(name, ActiveDirectoryAccountTemplate):
		return ActiveDirectoryAccountTemplateID, ActiveDirectoryAccountTemplate, true
	}
	return 0, "", false
}

// LoadSeed reads and validates a YAML seed file.
func LoadSeed(path string) (*Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	s, err := ParseSeed(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseSeed parses and validates a YAML (or JSON) seed. Unknown keys are
// errors.
func ParseSeed(b []byte) (*Seed, error) {
	var s Seed
	if err := yaml.UnmarshalStrict(b, &s); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) { // its text may quote a value, e.g. a password
			kind, _, _ := strings.Cut(typ.Value, " ")
			return nil, fmt.Errorf("seed: %s: expected %s, not a YAML %s", typ.Field, typ.Type, kind)
		}
		return nil, fmt.Errorf("seed: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate checks the seed: required values, unique usernames and secret
// ids, viewers that are users and fields that exist in built-in templates.
func (s *Seed) Validate() error {
	users := map[string]bool{}
	for i, u := range s.Users {
		key := strings.ToLower(strings.TrimSpace(u.Username))
		switch {
		case key == "":
			return fmt.Errorf("seed: user %d: username is required", i+1)
		case u.Password == "":
			return fmt.Errorf("seed: user %q: password is required", u.Username)
		case users[key]:
			return fmt.Errorf("seed: duplicate user %q", u.Username)
		}
		users[key] = true
	}
	ids := map[int]bool{}
	for i, sec := range s.Secrets {
		switch {
		case sec.ID <= 0:
			return fmt.Errorf("seed: secret %d (%q): id must be positive", i+1, sec.Name)
		case ids[sec.ID]:
			return fmt.Errorf("seed: duplicate secret id %d", sec.ID)
		case strings.TrimSpace(sec.Name) == "":
			return fmt.Errorf("seed: secret %d: name is required", sec.ID)
		case strings.TrimSpace(sec.Template) == "":
			return fmt.Errorf("seed: secret %d: template is required", sec.ID)
		}
		ids[sec.ID] = true
		for _, v := range sec.Viewers {
			if !users[strings.ToLower(strings.TrimSpace(v))] {
				return fmt.Errorf("seed: secret %d: viewer %q is not a user", sec.ID, v)
			}
		}
		if _, err := secretItems(sec, 0, nil); err != nil {
			return fmt.Errorf("seed: secret %d: %w", sec.ID, err)
		}
	}
	return nil
}

// secretItems builds the items of sec for templateID (0 while validating).
func secretItems(sec SeedSecret, templateID int, nextItemID func() int) ([]item, error) {
	if nextItemID == nil {
		nextItemID = func() int { return 0 }
	}
	id, _, builtin := builtinTemplateID(strings.TrimSpace(sec.Template))
	if builtin {
		defs := builtinFields(id)
		for k := range sec.Fields {
			if !slices.ContainsFunc(defs, func(d fieldDef) bool { return matchField(d, k) }) {
				names := make([]string, len(defs))
				for i, d := range defs {
					names[i] = d.slug
				}
				return nil, fmt.Errorf("template %q has no field %q (fields: %s)", sec.Template, k, strings.Join(names, ", "))
			}
		}
		items := make([]item, len(defs))
		for i, d := range defs {
			items[i] = newItem(nextItemID(), id*100+i+1, d, "")
			n := 0
			for k, v := range sec.Fields {
				if matchField(d, k) {
					items[i].value = v
					n++
				}
			}
			if n > 1 {
				return nil, fmt.Errorf("field %q is given more than once", d.slug)
			}
		}
		return items, nil
	}
	keys := make([]string, 0, len(sec.Fields))
	seen := map[string]string{}
	for k := range sec.Fields {
		d := customField(k)
		if d.slug == "" {
			return nil, errors.New("empty field name")
		}
		if other, dup := seen[d.slug]; dup {
			return nil, fmt.Errorf("fields %q and %q have the same slug", other, k)
		}
		seen[d.slug] = k
		keys = append(keys, k)
	}
	sort.Strings(keys)
	items := make([]item, len(keys))
	for i, k := range keys {
		// GUESS: field ids of custom templates are made up.
		items[i] = newItem(nextItemID(), templateID*100+i+1, customField(k), sec.Fields[k])
	}
	return items, nil
}

func newItem(itemID, fieldID int, d fieldDef, value string) item {
	return item{
		itemID: itemID, fieldID: fieldID, fieldName: d.name, slug: d.slug, value: value,
		isPassword: d.slug == "password", isNotes: d.slug == "notes",
	}
}

func matchField(d fieldDef, key string) bool {
	key = strings.TrimSpace(key)
	return strings.EqualFold(d.slug, key) || strings.EqualFold(d.name, key)
}

// customField derives a slug ("host-name") and a field name ("Host Name")
// from a seed key.
func customField(key string) fieldDef {
	words := strings.FieldsFunc(key, func(r rune) bool { return r == ' ' || r == '-' || r == '_' })
	for i, w := range words {
		r, n := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToUpper(r)) + w[n:]
	}
	return fieldDef{name: strings.Join(words, " "), slug: strings.ToLower(strings.Join(words, "-"))}
}
