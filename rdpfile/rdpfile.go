// Package rdpfile writes and reads Remote Desktop connection files (.rdp), the files an end
// user downloads to open a session through the proxy with mstsc, FreeRDP or another standard
// client.
//
// A .rdp file is a list of "name:type:value" lines; type is s (string), i (integer) or b
// (binary, hex). mstsc saves UTF-16LE with a byte-order mark and CRLF line ends; it and FreeRDP
// also read plain ASCII.
//
// # What Write puts in a file
//
// The fields of File are written first:
//
//   - full address:s:HOST:PORT and, when FullAddress has a port, server port:i:PORT too. mstsc
//     lets the port in full address win over server port, FreeRDP lets server port win; writing
//     both, equal, makes every client agree.
//   - loadbalanceinfo:s:TICKET. The client sends it, followed by CRLF, as the routing token of
//     the X.224 Connection Request. mstsc needs token plus CRLF to be of even length, so Write
//     appends one space when len(LoadBalanceInfo) is odd (the proxy's ticket parser trims
//     trailing spaces). For the same reason a LoadBalanceInfo may not end in a space, must be
//     printable ASCII, and may be at most x224.MaxRoutingTokenLen bytes once padded (the X.224
//     length indicator is one byte and mstsc also sends correlation info).
//   - username, alternate shell, remoteapplicationmode:i:1 with remoteapplicationprogram, and
//     desktopwidth / desktopheight when set; disableconnectionsharing:i:0 or 1 always (a fresh
//     connection per file, since each ticket is single-use).
//
// Then the defaults in Defaults, each unless Extra names the same setting (Extra overrides), and
// then Extra in order. The defaults and why:
//
//   - enablecredsspsupport:i:0, prompt for credentials:i:0, negotiate security layer:i:1: the
//     file carries no password (Write refuses any setting whose name contains "password"); the
//     proxy injects credentials towards the target, so the client leg is TLS without NLA and the
//     client must not ask the user for a password. With CredSSP off mstsc requests TLS only.
//   - authentication level:i:2: warn, but let the user continue, when the proxy's certificate
//     cannot be verified. Not 0 (connect silently): keystrokes and screen cross the client leg,
//     so a silent man-in-the-middle must not be the default. Not 1 (refuse): a deployment may
//     start with a private certificate. Give the proxy a publicly trusted certificate for the
//     full address name and no prompt appears; override through Extra when policy demands.
//   - autoreconnection enabled:i:0: a reconnect would resend the consumed single-use ticket and
//     fail; the user downloads a fresh file instead.
//   - screen mode id:i:2 (full screen), use multimon:i:0, session bpp:i:32, smart sizing:i:1,
//     dynamic resolution:i:1: a usual desktop that adapts to the window.
//   - redirectclipboard:i:1, audiomode:i:0 (play on the client), audiocapturemode:i:0, and no
//     printers, COM ports, smart cards, POS devices or drives: the proxy filters virtual channels
//     by policy anyway; the file only avoids asking for devices that would be refused.
//
// # What Parse returns
//
// Parse maps the settings above back to File's fields (names compared without regard to case),
// leaves out the defaults whose value equals Defaults, removes trailing spaces from
// loadbalanceinfo (Write's padding) and keeps every other setting in Extra, in file order, so
// that Parse(Write(f)) equals f for a valid f without default-valued entries in Extra.
package rdpfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sessionconnector/sessionconnector/rdp/x224"
)

const (
	// ContentType is the media type to serve .rdp files with.
	ContentType = "application/x-rdp"
	// MaxSize is the largest file Parse reads and Write produces, in bytes as encoded.
	MaxSize = 64 << 10
	// MinDesktopSize and MaxDesktopSize bound desktopwidth and desktopheight (mstsc's range).
	MinDesktopSize = 200
	MaxDesktopSize = 8192
)

var (
	// ErrInvalid wraps every error about a File that Write cannot write.
	ErrInvalid = errors.New("rdpfile: invalid setting")
	// ErrSyntax wraps every error about input that Parse cannot read.
	ErrSyntax = errors.New("rdpfile: syntax error")
)

// Type is the type letter of a setting.
type Type byte

const (
	TypeString Type = 's'
	TypeInt    Type = 'i'
	TypeBinary Type = 'b'
)

// Setting is one "name:type:value" line.
type Setting struct {
	Name  string
	Type  Type
	Value string
}

// String returns the setting as it appears in a file.
func (s Setting) String() string { return s.Name + ":" + string(s.Type) + ":" + s.Value }

// File is the content of a .rdp file: the settings the project sets itself, as fields, and any
// other setting in Extra.
type File struct {
	// FullAddress is "host", "host:port" or "[ipv6]:port".
	FullAddress string
	// LoadBalanceInfo is the ticket the client sends as its routing token (without padding).
	LoadBalanceInfo string
	// Username is shown by the client; the proxy injects the real credentials.
	Username                 string
	DisableConnectionSharing bool
	// AlternateShell is started instead of the desktop shell (honoured by xrdp and RDS).
	AlternateShell string
	// RemoteAppProgram turns on RemoteApp mode (remoteapplicationmode:i:1) with this program.
	RemoteAppProgram string
	// DesktopWidth and DesktopHeight are 0 (unset) or in [MinDesktopSize, MaxDesktopSize].
	DesktopWidth, DesktopHeight int
	// Extra holds further settings, written after the defaults; a name also in Defaults
	// replaces that default. Names of the fields above and names containing "password" are
	// refused by Write.
	Extra []Setting
}

// Setting names the fields of File stand for.
const (
	nameFullAddress      = "full address"
	nameServerPort       = "server port"
	nameLoadBalanceInfo  = "loadbalanceinfo"
	nameUsername         = "username"
	nameDisableSharing   = "disableconnectionsharing"
	nameAlternateShell   = "alternate shell"
	nameRemoteAppMode    = "remoteapplicationmode"
	nameRemoteAppProgram = "remoteapplicationprogram"
	nameDesktopWidth     = "desktopwidth"
	nameDesktopHeight    = "desktopheight"
)

var modelled = map[string]Type{
	nameFullAddress:      TypeString,
	nameServerPort:       TypeInt,
	nameLoadBalanceInfo:  TypeString,
	nameUsername:         TypeString,
	nameDisableSharing:   TypeInt,
	nameAlternateShell:   TypeString,
	nameRemoteAppMode:    TypeInt,
	nameRemoteAppProgram: TypeString,
	nameDesktopWidth:     TypeInt,
	nameDesktopHeight:    TypeInt,
}

// defaults is read-only; Defaults hands out copies.
var defaults = []Setting{
	{"enablecredsspsupport", TypeInt, "0"},
	{"prompt for credentials", TypeInt, "0"},
	{"negotiate security layer", TypeInt, "1"},
	{"authentication level", TypeInt, "2"},
	{"autoreconnection enabled", TypeInt, "0"},
	{"screen mode id", TypeInt, "2"},
	{"use multimon", TypeInt, "0"},
	{"session bpp", TypeInt, "32"},
	{"smart sizing", TypeInt, "1"},
	{"dynamic resolution", TypeInt, "1"},
	{"redirectclipboard", TypeInt, "1"},
	{"audiomode", TypeInt, "0"},
	{"audiocapturemode", TypeInt, "0"},
	{"redirectprinters", TypeInt, "0"},
	{"redirectcomports", TypeInt, "0"},
	{"redirectsmartcards", TypeInt, "0"},
	{"redirectposdevices", TypeInt, "0"},
	{"drivestoredirect", TypeString, ""},
}

// Defaults returns the settings Write adds after File's fields, in order.
func Defaults() []Setting {
	return append([]Setting(nil), defaults...)
}

func defaultFor(key string) (Setting, bool) {
	for _, d := range defaults {
		if d.Name == key {
			return d, true
		}
	}
	return Setting{}, false
}

func key(name string) string { return strings.ToLower(name) }

// Marshal returns the file as Write writes it.
func Marshal(f File) ([]byte, error) {
	lines, err := f.settings()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, s := range lines {
		b.WriteString(s.String())
		b.WriteString("\r\n")
	}
	out := encode(b.String())
	if len(out) > MaxSize {
		return nil, fmt.Errorf("%w: file of %d bytes, at most %d", ErrInvalid, len(out), MaxSize)
	}
	return out, nil
}

// Write writes f to w with CRLF line ends: as ASCII when every character is ASCII, else as
// UTF-16LE with a byte-order mark (what mstsc saves, and what both mstsc and FreeRDP read).
// Nothing is written when f is invalid.
func Write(w io.Writer, f File) error {
	out, err := Marshal(f)
	if err != nil {
		return err
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("rdpfile: write: %w", err)
	}
	return nil
}

func encode(s string) []byte {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return []byte(s)
	}
	u := utf16.Encode([]rune(s))
	out := make([]byte, 2, 2+2*len(u))
	out[0], out[1] = 0xFF, 0xFE
	for _, c := range u {
		out = append(out, byte(c), byte(c>>8))
	}
	return out
}

// settings validates f and returns the lines to write.
func (f File) settings() ([]Setting, error) {
	var out []Setting
	add := func(name string, t Type, v string) { out = append(out, Setting{name, t, v}) }

	if f.FullAddress == "" {
		return nil, fmt.Errorf("%w: full address is required", ErrInvalid)
	}
	if err := checkValue(f.FullAddress); err != nil {
		return nil, fmt.Errorf("%w: full address: %w", ErrInvalid, err)
	}
	_, port, err := splitAddress(f.FullAddress)
	if err != nil {
		return nil, fmt.Errorf("%w: full address: %w", ErrInvalid, err)
	}
	add(nameFullAddress, TypeString, f.FullAddress)
	if port != 0 {
		add(nameServerPort, TypeInt, strconv.Itoa(port))
	}

	if f.LoadBalanceInfo != "" {
		lbi, err := padLoadBalanceInfo(f.LoadBalanceInfo)
		if err != nil {
			return nil, fmt.Errorf("%w: loadbalanceinfo: %w", ErrInvalid, err)
		}
		add(nameLoadBalanceInfo, TypeString, lbi)
	}
	for _, s := range []struct{ name, value string }{
		{nameUsername, f.Username},
		{nameAlternateShell, f.AlternateShell},
	} {
		if s.value == "" {
			continue
		}
		if err := checkValue(s.value); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, s.name, err)
		}
		add(s.name, TypeString, s.value)
	}
	if f.RemoteAppProgram != "" {
		if err := checkValue(f.RemoteAppProgram); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, nameRemoteAppProgram, err)
		}
		add(nameRemoteAppMode, TypeInt, "1")
		add(nameRemoteAppProgram, TypeString, f.RemoteAppProgram)
	}
	if f.DisableConnectionSharing {
		add(nameDisableSharing, TypeInt, "1")
	} else {
		add(nameDisableSharing, TypeInt, "0")
	}
	for _, d := range []struct {
		name string
		v    int
	}{{nameDesktopWidth, f.DesktopWidth}, {nameDesktopHeight, f.DesktopHeight}} {
		if d.v == 0 {
			continue
		}
		if err := checkDesktopSize(d.v); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, d.name, err)
		}
		add(d.name, TypeInt, strconv.Itoa(d.v))
	}

	seen := make(map[string]bool, len(f.Extra))
	for i, s := range f.Extra {
		k := key(s.Name)
		if err := checkName(s.Name); err != nil {
			return nil, fmt.Errorf("%w: extra setting %d: %w", ErrInvalid, i, err)
		}
		if strings.Contains(k, "password") {
			return nil, fmt.Errorf("%w: extra setting %q: a .rdp file never carries a password", ErrInvalid, s.Name)
		}
		if _, ok := modelled[k]; ok {
			return nil, fmt.Errorf("%w: extra setting %q is set through a File field", ErrInvalid, s.Name)
		}
		if seen[k] {
			return nil, fmt.Errorf("%w: extra setting %q appears twice", ErrInvalid, s.Name)
		}
		seen[k] = true
		if err := checkTyped(s.Type, s.Value); err != nil {
			return nil, fmt.Errorf("%w: extra setting %q: %w", ErrInvalid, s.Name, err)
		}
	}
	for _, d := range defaults {
		if !seen[d.Name] {
			out = append(out, d)
		}
	}
	return append(out, f.Extra...), nil
}

// padLoadBalanceInfo validates a ticket and pads it so that it plus CRLF is of even length.
func padLoadBalanceInfo(v string) (string, error) {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7E {
			return "", fmt.Errorf("byte 0x%02x at offset %d is not printable ASCII", v[i], i)
		}
	}
	if strings.HasSuffix(v, " ") {
		return "", errors.New("trailing spaces are reserved for padding")
	}
	if len(v)%2 == 1 { // len(v)+2 (CRLF) is odd
		v += " "
	}
	if len(v) > x224.MaxRoutingTokenLen {
		return "", fmt.Errorf("%d bytes once padded, at most %d fit in the X.224 Connection Request", len(v), x224.MaxRoutingTokenLen)
	}
	return v, nil
}

// splitAddress validates a full address and returns its host and port (0 when absent).
func splitAddress(addr string) (host string, port int, err error) {
	if strings.ContainsAny(addr, " \t") {
		return "", 0, fmt.Errorf("%q contains whitespace", addr)
	}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		if h == "" {
			return "", 0, fmt.Errorf("%q has no host", addr)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
			return "", 0, fmt.Errorf("%q has an invalid port", addr)
		}
		return h, n, nil
	}
	if strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") && len(addr) > 2 &&
		!strings.ContainsAny(addr[1:len(addr)-1], "[]") {
		return addr[1 : len(addr)-1], 0, nil
	}
	if addr == "" || strings.ContainsAny(addr, ":[]") {
		return "", 0, fmt.Errorf("%q is neither host, host:port nor [ipv6]:port", addr)
	}
	return addr, 0, nil
}

func checkDesktopSize(v int) error {
	if v < MinDesktopSize || v > MaxDesktopSize {
		return fmt.Errorf("%d is outside [%d, %d]", v, MinDesktopSize, MaxDesktopSize)
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if strings.ContainsAny(name, ":\r\n\x00") {
		return fmt.Errorf("name %q contains ':', CR, LF or NUL", name)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("name %q is not UTF-8", name)
	}
	return nil
}

func checkValue(v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return errors.New("value contains CR, LF or NUL")
	}
	if !utf8.ValidString(v) {
		return errors.New("value is not UTF-8")
	}
	return nil
}

func checkTyped(t Type, v string) error {
	switch t {
	case TypeString:
		return checkValue(v)
	case TypeInt:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case TypeBinary:
		if len(v)%2 != 0 {
			return fmt.Errorf("binary value of odd length %d", len(v))
		}
		for i := 0; i < len(v); i++ {
			if !isHex(v[i]) {
				return fmt.Errorf("binary value has non-hex byte 0x%02x", v[i])
			}
		}
	default:
		return fmt.Errorf("unknown type %q", string(t))
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Parse reads a .rdp file of at most MaxSize bytes, UTF-8 (with or without a byte-order mark)
// or UTF-16 with a byte-order mark. Errors wrap ErrSyntax and name the line.
func Parse(r io.Reader) (*File, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("rdpfile: read: %w", err)
	}
	if len(raw) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrSyntax, MaxSize)
	}
	text, err := decode(raw)
	if err != nil {
		return nil, err
	}

	var (
		f          File
		seen       = map[string]int{}
		serverPort = 0
		portLine   = 0
		appMode    = -1
		appLine    = 0
		program    string
		addrLine   = 0
	)
	for n, line := range strings.Split(text, "\n") {
		lineNo := n + 1
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrSyntax, lineNo, fmt.Sprintf(format, args...))
		}
		if !utf8.ValidString(line) {
			return nil, fail("not valid UTF-8")
		}
		name, rest, ok := strings.Cut(line, ":")
		if !ok || len(rest) < 2 || rest[1] != ':' {
			return nil, fail("want name:type:value")
		}
		s := Setting{Name: name, Type: Type(rest[0]), Value: rest[2:]}
		if err := checkName(s.Name); err != nil {
			return nil, fail("%v", err)
		}
		if err := checkTyped(s.Type, s.Value); err != nil {
			return nil, fail("%s: %v", s.Name, err)
		}
		k := key(s.Name)
		if first, dup := seen[k]; dup {
			return nil, fail("duplicate setting %q (first on line %d)", s.Name, first)
		}
		seen[k] = lineNo

		want, isField := modelled[k]
		if !isField {
			if d, ok := defaultFor(k); ok && d.Type == s.Type && d.Value == s.Value {
				continue
			}
			f.Extra = append(f.Extra, s)
			continue
		}
		if s.Type != want {
			return nil, fail("%s has type %c, want %c", s.Name, s.Type, want)
		}
		var iv int
		if want == TypeInt {
			v, err := strconv.ParseInt(s.Value, 10, 32)
			if err != nil {
				return nil, fail("%s: %q is out of range", s.Name, s.Value)
			}
			iv = int(v)
		}
		switch k {
		case nameFullAddress:
			if _, _, err := splitAddress(s.Value); s.Value != "" && err != nil {
				return nil, fail("%s: %v", s.Name, err)
			}
			f.FullAddress, addrLine = s.Value, lineNo
		case nameServerPort:
			if iv < 1 || iv > 65535 {
				return nil, fail("%s: %d is not a TCP port", s.Name, iv)
			}
			serverPort, portLine = iv, lineNo
		case nameLoadBalanceInfo:
			f.LoadBalanceInfo = strings.TrimRight(s.Value, " ")
		case nameUsername:
			f.Username = s.Value
		case nameDisableSharing:
			f.DisableConnectionSharing = iv != 0
		case nameAlternateShell:
			f.AlternateShell = s.Value
		case nameRemoteAppMode:
			appMode, appLine = iv, lineNo
		case nameRemoteAppProgram:
			program = s.Value
		case nameDesktopWidth, nameDesktopHeight:
			if iv != 0 {
				if err := checkDesktopSize(iv); err != nil {
					return nil, fail("%s: %v", s.Name, err)
				}
			}
			if k == nameDesktopWidth {
				f.DesktopWidth = iv
			} else {
				f.DesktopHeight = iv
			}
		}
	}

	// The port in full address wins over server port (as in mstsc); server port completes a
	// full address without one.
	if serverPort != 0 {
		if f.FullAddress == "" {
			return nil, fmt.Errorf("%w: line %d: server port without full address", ErrSyntax, portLine)
		}
		host, port, err := splitAddress(f.FullAddress)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: full address: %w", ErrSyntax, addrLine, err)
		}
		if port == 0 {
			f.FullAddress = net.JoinHostPort(host, strconv.Itoa(serverPort))
		}
	}
	// RemoteApp mode needs its program; the program means nothing without the mode.
	if appMode > 0 {
		if program == "" {
			return nil, fmt.Errorf("%w: line %d: remoteapplicationmode:i:%d without remoteapplicationprogram", ErrSyntax, appLine, appMode)
		}
		f.RemoteAppProgram = program
	}
	return &f, nil
}

// decode turns the raw file into text, honouring a UTF-8 or UTF-16 byte-order mark.
func decode(raw []byte) (string, error) {
	switch {
	case bytes.HasPrefix(raw, []byte{0xEF, 0xBB, 0xBF}):
		return string(raw[3:]), nil
	case bytes.HasPrefix(raw, []byte{0xFF, 0xFE}):
		return decodeUTF16(raw[2:], false)
	case bytes.HasPrefix(raw, []byte{0xFE, 0xFF}):
		return decodeUTF16(raw[2:], true)
	}
	return string(raw), nil
}

func decodeUTF16(b []byte, bigEndian bool) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: UTF-16 text of odd length %d", ErrSyntax, len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
	}
	for i := 0; i < len(u); i++ {
		switch {
		case u[i] >= 0xD800 && u[i] < 0xDC00:
			if i+1 >= len(u) || u[i+1] < 0xDC00 || u[i+1] >= 0xE000 {
				return "", fmt.Errorf("%w: unpaired UTF-16 surrogate at byte %d", ErrSyntax, 2+2*i)
			}
			i++
		case u[i] >= 0xDC00 && u[i] < 0xE000:
			return "", fmt.Errorf("%w: unpaired UTF-16 surrogate at byte %d", ErrSyntax, 2+2*i)
		}
	}
	return string(utf16.Decode(u)), nil
}
