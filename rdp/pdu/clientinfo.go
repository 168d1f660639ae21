package pdu

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// TS_INFO_PACKET flags (MS-RDPBCGR 2.2.1.11.1.1).
const (
	InfoMouse               uint32 = 0x00000001 // INFO_MOUSE
	InfoDisableCtrlAltDel   uint32 = 0x00000002 // INFO_DISABLECTRLALTDEL
	InfoAutologon           uint32 = 0x00000008 // INFO_AUTOLOGON
	InfoUnicode             uint32 = 0x00000010 // INFO_UNICODE: strings are UTF-16LE
	InfoMaximizeShell       uint32 = 0x00000020 // INFO_MAXIMIZESHELL
	InfoLogonNotify         uint32 = 0x00000040 // INFO_LOGONNOTIFY
	InfoCompression         uint32 = 0x00000080 // INFO_COMPRESSION: bulk compression supported
	InfoEnableWindowsKey    uint32 = 0x00000100 // INFO_ENABLEWINDOWSKEY
	InfoCompressionTypeMask uint32 = 0x00001E00 // CompressionTypeMask: highest PACKET_COMPR_TYPE_* << 9
	InfoRemoteConsoleAudio  uint32 = 0x00002000 // INFO_REMOTECONSOLEAUDIO
	InfoForceEncryptedCSPDU uint32 = 0x00004000 // INFO_FORCE_ENCRYPTED_CS_PDU
	InfoRail                uint32 = 0x00008000 // INFO_RAIL
	InfoLogonErrors         uint32 = 0x00010000 // INFO_LOGONERRORS
	InfoMouseHasWheel       uint32 = 0x00020000 // INFO_MOUSE_HAS_WHEEL
	InfoPasswordIsSCPin     uint32 = 0x00040000 // INFO_PASSWORD_IS_SC_PIN
	InfoNoAudioPlayback     uint32 = 0x00080000 // INFO_NOAUDIOPLAYBACK
	InfoUsingSavedCreds     uint32 = 0x00100000 // INFO_USING_SAVED_CREDS
	InfoAudioCapture        uint32 = 0x00200000 // INFO_AUDIOCAPTURE
	InfoVideoDisable        uint32 = 0x00400000 // INFO_VIDEO_DISABLE
	InfoReserved1           uint32 = 0x00800000 // INFO_RESERVED1
	InfoReserved2           uint32 = 0x01000000 // INFO_RESERVED2
	InfoHiDefRailSupported  uint32 = 0x02000000 // INFO_HIDEF_RAIL_SUPPORTED

	infoCompressionTypeShift = 9
)

// Bulk compression types (MS-RDPBCGR 3.1.8.1), as found in the CompressionTypeMask bits of the
// Client Info flags and in the low bits of compressedType / compressionFlags.
const (
	PacketComprType8K    uint8 = 0x0 // PACKET_COMPR_TYPE_8K (MPPC, RDP 4.0)
	PacketComprType64K   uint8 = 0x1 // PACKET_COMPR_TYPE_64K (MPPC, RDP 5.0)
	PacketComprTypeRDP6  uint8 = 0x2 // PACKET_COMPR_TYPE_RDP6 (NCRUSH)
	PacketComprTypeRDP61 uint8 = 0x3 // PACKET_COMPR_TYPE_RDP61 (XCRUSH)
)

// Performance flags of TS_EXTENDED_INFO_PACKET (MS-RDPBCGR 2.2.1.11.1.1.1).
const (
	PerfDisableWallpaper         uint32 = 0x00000001 // PERF_DISABLE_WALLPAPER
	PerfDisableFullWindowDrag    uint32 = 0x00000002 // PERF_DISABLE_FULLWINDOWDRAG
	PerfDisableMenuAnimations    uint32 = 0x00000004 // PERF_DISABLE_MENUANIMATIONS
	PerfDisableTheming           uint32 = 0x00000008 // PERF_DISABLE_THEMING
	PerfDisableCursorShadow      uint32 = 0x00000020 // PERF_DISABLE_CURSOR_SHADOW
	PerfDisableCursorSettings    uint32 = 0x00000040 // PERF_DISABLE_CURSORSETTINGS
	PerfEnableFontSmoothing      uint32 = 0x00000080 // PERF_ENABLE_FONT_SMOOTHING
	PerfEnableDesktopComposition uint32 = 0x00000100 // PERF_ENABLE_DESKTOP_COMPOSITION
)

// Client address families of TS_EXTENDED_INFO_PACKET.
const (
	AFInet  uint16 = 0x0002 // AF_INET
	AFInet6 uint16 = 0x0017 // AF_INET6
)

const (
	// MaxStringUnits is the most UTF-16 code units (or ANSI bytes) the setters accept for one
	// Client Info string: 512 bytes with the null terminator, as MS-RDPBCGR allows since RDP 5.1.
	// Parsing accepts longer strings, as far as the 16-bit length fields reach.
	MaxStringUnits = 255
	// MaxClientAddressBytes is the longest clientAddress SetClientAddress writes, terminator
	// included (MS-RDPBCGR 2.2.1.11.1.1.1).
	MaxClientAddressBytes = 80
	// TimeZoneInfoLen is the size of TS_TIME_ZONE_INFORMATION (clientTimeZone).
	TimeZoneInfoLen = 172

	infoFixedLen = 18 // codePage, flags, five cb fields
)

// ClientInfo is TS_INFO_PACKET, the payload of the Client Info PDU (MS-RDPBCGR 2.2.1.11.1.1).
//
// The five strings are stored as code units: UTF-16 when Flags has InfoUnicode, otherwise bytes
// in the client's code page; Marshal encodes them according to Flags at that time. The getters
// decode UTF-16 (unpaired surrogates become U+FFFD) or read ANSI bytes as ISO-8859-1; the
// parsed code units themselves are kept, so an unmodified ClientInfo marshals to its input.
//
// The password never appears in String, GoString, Format, MarshalJSON or LogValue output. It is
// held inside a closure, which reflection cannot look into: even printing a value that contains a
// ClientInfo in an unexported field (where fmt cannot call Format) shows a function address only.
// Use Equal, not reflect.DeepEqual, to compare two ClientInfo values.
type ClientInfo struct {
	CodePage uint32
	Flags    uint32
	// Extended is TS_EXTENDED_INFO_PACKET, nil when the packet ends after WorkingDir.
	Extended *ExtendedInfo

	domain, userName, alternateShell, workingDir []uint16
	password                                     secret
}

// secret holds code units out of reflection's reach; nil means no password.
type secret func() *[]uint16

func newSecret(units []uint16) secret {
	return func() *[]uint16 { return &units }
}

// ExtendedInfo is TS_EXTENDED_INFO_PACKET (MS-RDPBCGR 2.2.1.11.1.1.1). Its fields after
// ClientDir are optional and, when present, come in order; Present says how many were sent.
// Bytes after the last field, or too few to form the next field, are kept in Trailing.
type ExtendedInfo struct {
	ClientAddressFamily uint16
	// ClientAddress is the clientAddress field as sent (cbClientAddress bytes, normally
	// UTF-16LE with its null terminator).
	ClientAddress []byte
	// ClientDir is the clientDir field as sent (cbClientDir bytes, terminator included).
	ClientDir []byte

	// Present is the last optional field present; fields after it are ignored by Marshal.
	Present ExtendedField

	// ClientTimeZone is TS_TIME_ZONE_INFORMATION, kept opaque (TimeZoneInfoLen bytes).
	ClientTimeZone   []byte
	ClientSessionID  uint32
	PerformanceFlags uint32
	// AutoReconnectCookie is the autoReconnectCookie field (cbAutoReconnectCookie bytes, an
	// ARC_CS_PRIVATE_PACKET when not empty). It lets its holder resume a session and is redacted
	// from String and Format output.
	AutoReconnectCookie []byte
	Reserved1           uint16
	Reserved2           uint16
	// DynamicDSTTimeZoneKeyName is the dynamicDSTTimeZoneKeyName field as sent.
	DynamicDSTTimeZoneKeyName   []byte
	DynamicDaylightTimeDisabled uint16
	// Trailing holds the bytes after the last field parsed, kept byte for byte.
	Trailing []byte
}

// ExtendedField names the optional fields of TS_EXTENDED_INFO_PACKET, in wire order.
type ExtendedField uint8

const (
	// ExtendedBase: only clientAddressFamily, clientAddress and clientDir.
	ExtendedBase ExtendedField = iota
	ExtendedTimeZone
	ExtendedSessionID
	ExtendedPerformanceFlags
	// ExtendedAutoReconnectCookie: cbAutoReconnectCookie and autoReconnectCookie.
	ExtendedAutoReconnectCookie
	ExtendedReserved1
	ExtendedReserved2
	// ExtendedDynamicDSTTimeZoneKeyName: cbDynamicDSTTimeZoneKeyName and the name.
	ExtendedDynamicDSTTimeZoneKeyName
	ExtendedDynamicDaylightTimeDisabled
)

// fixedLen returns how many bytes field f needs at least (its length prefix for variable ones).
func (f ExtendedField) fixedLen() int {
	switch f {
	case ExtendedTimeZone:
		return TimeZoneInfoLen
	case ExtendedSessionID, ExtendedPerformanceFlags:
		return 4
	default:
		return 2
	}
}

// ParseClientInfoPDU parses the user data of the MCS Send Data Request that carries the Client
// Info PDU: a basic security header with SecInfoPkt, then TS_INFO_PACKET.
func ParseClientInfoPDU(b []byte) (SecurityHeader, *ClientInfo, error) {
	sec, rest, err := ParseSecurityHeader(b)
	if err != nil {
		return SecurityHeader{}, nil, fmt.Errorf("client info: %w", err)
	}
	if sec.Flags&SecInfoPkt == 0 {
		return SecurityHeader{}, nil, malformed("client info: security flags 0x%04x lack SEC_INFO_PKT", sec.Flags)
	}
	ci, err := ParseClientInfo(rest)
	if err != nil {
		return SecurityHeader{}, nil, err
	}
	return sec, ci, nil
}

// ParseClientInfo parses TS_INFO_PACKET (without the security header). Each string must be
// followed by its null terminator; the extended info, when present, must be complete up to
// clientDir, and a length prefix of a later field must not point past the end.
func ParseClientInfo(b []byte) (*ClientInfo, error) {
	if len(b) < infoFixedLen {
		return nil, malformed("client info needs %d bytes, have %d", infoFixedLen, len(b))
	}
	r := reader{b: b}
	c := &ClientInfo{CodePage: r.u32("codePage"), Flags: r.u32("flags")}
	var cb [5]int
	for i := range cb {
		cb[i] = int(r.u16("cb field"))
	}
	unicode := c.Flags&InfoUnicode != 0
	var pw []uint16
	targets := [5]*[]uint16{&c.domain, &c.userName, &pw, &c.alternateShell, &c.workingDir}
	for i, name := range [5]string{"Domain", "UserName", "Password", "AlternateShell", "WorkingDir"} {
		units, err := readInfoString(&r, cb[i], unicode, name)
		if err != nil {
			clear(pw)
			return nil, err
		}
		*targets[i] = units
	}
	if len(pw) > 0 {
		c.password = newSecret(pw)
	}
	if r.left() > 0 {
		ext, err := parseExtendedInfo(r.rest())
		if err != nil {
			c.ZeroPassword()
			return nil, err
		}
		c.Extended = ext
	}
	return c, nil
}

func readInfoString(r *reader, cb int, unicode bool, name string) ([]uint16, error) {
	termLen := 1
	if unicode {
		termLen = 2
		if cb%2 != 0 {
			return nil, malformed("client info: cb%s %d is odd for a Unicode string", name, cb)
		}
	}
	data := r.take(cb, name)
	term := r.take(termLen, name+" null terminator")
	if r.err != nil {
		return nil, fmt.Errorf("client info: %w", r.err)
	}
	for _, t := range term {
		if t != 0 {
			return nil, malformed("client info: %s is not followed by a null terminator", name)
		}
	}
	if len(data) == 0 {
		return nil, nil
	}
	if !unicode {
		units := make([]uint16, len(data))
		for i, c := range data {
			units[i] = uint16(c)
		}
		return units, nil
	}
	units := make([]uint16, len(data)/2)
	for i := range units {
		units[i] = uint16(data[2*i]) | uint16(data[2*i+1])<<8
	}
	return units, nil
}

func parseExtendedInfo(b []byte) (*ExtendedInfo, error) {
	r := reader{b: b}
	e := &ExtendedInfo{ClientAddressFamily: r.u16("clientAddressFamily")}
	n := int(r.u16("cbClientAddress"))
	e.ClientAddress = clone(r.take(n, "clientAddress"))
	n = int(r.u16("cbClientDir"))
	e.ClientDir = clone(r.take(n, "clientDir"))
	if r.err != nil {
		return nil, fmt.Errorf("client info: extended info: %w", r.err)
	}
	for e.Present < ExtendedDynamicDaylightTimeDisabled {
		next := e.Present + 1
		if r.left() < next.fixedLen() {
			break
		}
		switch next {
		case ExtendedTimeZone:
			e.ClientTimeZone = clone(r.take(TimeZoneInfoLen, "clientTimeZone"))
		case ExtendedSessionID:
			e.ClientSessionID = r.u32("clientSessionId")
		case ExtendedPerformanceFlags:
			e.PerformanceFlags = r.u32("performanceFlags")
		case ExtendedAutoReconnectCookie:
			n := int(r.u16("cbAutoReconnectCookie"))
			e.AutoReconnectCookie = clone(r.take(n, "autoReconnectCookie"))
		case ExtendedReserved1:
			e.Reserved1 = r.u16("reserved1")
		case ExtendedReserved2:
			e.Reserved2 = r.u16("reserved2")
		case ExtendedDynamicDSTTimeZoneKeyName:
			n := int(r.u16("cbDynamicDSTTimeZoneKeyName"))
			e.DynamicDSTTimeZoneKeyName = clone(r.take(n, "dynamicDSTTimeZoneKeyName"))
		case ExtendedDynamicDaylightTimeDisabled:
			e.DynamicDaylightTimeDisabled = r.u16("dynamicDaylightTimeDisabled")
		}
		if r.err != nil {
			return nil, fmt.Errorf("client info: extended info: %w", r.err)
		}
		e.Present = next
	}
	e.Trailing = clone(r.rest())
	return e, nil
}

// MarshalPDU returns the Client Info PDU as the user data of an MCS Send Data Request: sec,
// which must have SecInfoPkt and not SecEncrypt, followed by the TS_INFO_PACKET. The result
// holds the password; clear it after sending.
func (c *ClientInfo) MarshalPDU(sec SecurityHeader) ([]byte, error) {
	if sec.Flags&SecInfoPkt == 0 || sec.Flags&SecEncrypt != 0 {
		return nil, invalid("client info: security flags 0x%04x need SEC_INFO_PKT and no SEC_ENCRYPT", sec.Flags)
	}
	return c.append(sec.Append(nil))
}

// Marshal returns the TS_INFO_PACKET, recomputing the five cb fields. The result holds the
// password; clear it after use.
func (c *ClientInfo) Marshal() ([]byte, error) {
	return c.append(nil)
}

func (c *ClientInfo) append(dst []byte) ([]byte, error) {
	if c == nil {
		return nil, invalid("nil ClientInfo")
	}
	unicode := c.Flags&InfoUnicode != 0
	unit, term := 1, 1
	if unicode {
		unit, term = 2, 2
	}
	fields := [5][]uint16{c.domain, c.userName, c.passwordUnits(), c.alternateShell, c.workingDir}
	size := infoFixedLen
	for i, f := range fields {
		n := len(f) * unit
		if n > 0xFFFF {
			return nil, invalid("client info: %s of %d bytes does not fit its 16-bit length", infoFieldNames[i], n)
		}
		if !unicode {
			for _, u := range f {
				if u > 0xFF {
					// The message names the field only: the value may be the password.
					return nil, invalid("client info: %s has a character outside the 8-bit code page while INFO_UNICODE is clear", infoFieldNames[i])
				}
			}
		}
		size += n + term
	}
	if c.Extended != nil {
		n, err := c.Extended.size()
		if err != nil {
			return nil, err
		}
		size += n
	}
	// Grow once, so that no abandoned copy of the password is left behind by append.
	dst = slices.Grow(dst, size)
	dst = le32(dst, c.CodePage)
	dst = le32(dst, c.Flags)
	for _, f := range fields {
		dst = le16(dst, uint16(len(f)*unit))
	}
	for _, f := range fields {
		for _, u := range f {
			if unicode {
				dst = le16(dst, u)
			} else {
				dst = append(dst, byte(u))
			}
		}
		dst = append(dst, 0)
		if unicode {
			dst = append(dst, 0)
		}
	}
	if c.Extended != nil {
		dst = c.Extended.append(dst)
	}
	return dst, nil
}

var infoFieldNames = [5]string{"Domain", "UserName", "Password", "AlternateShell", "WorkingDir"}

func (e *ExtendedInfo) size() (int, error) {
	if e.Present > ExtendedDynamicDaylightTimeDisabled {
		return 0, invalid("client info: extended info: Present %d is not a known field", e.Present)
	}
	for _, f := range []struct {
		name string
		n    int
	}{
		{"clientAddress", len(e.ClientAddress)},
		{"clientDir", len(e.ClientDir)},
		{"autoReconnectCookie", len(e.AutoReconnectCookie)},
		{"dynamicDSTTimeZoneKeyName", len(e.DynamicDSTTimeZoneKeyName)},
	} {
		if f.n > 0xFFFF {
			return 0, invalid("client info: extended info: %s of %d bytes does not fit its 16-bit length", f.name, f.n)
		}
	}
	if e.Present >= ExtendedTimeZone && len(e.ClientTimeZone) != TimeZoneInfoLen {
		return 0, invalid("client info: extended info: clientTimeZone has %d bytes, want %d", len(e.ClientTimeZone), TimeZoneInfoLen)
	}
	n := 6 + len(e.ClientAddress) + len(e.ClientDir)
	for f := ExtendedTimeZone; f <= e.Present; f++ {
		n += f.fixedLen()
	}
	if e.Present >= ExtendedAutoReconnectCookie {
		n += len(e.AutoReconnectCookie)
	}
	if e.Present >= ExtendedDynamicDSTTimeZoneKeyName {
		n += len(e.DynamicDSTTimeZoneKeyName)
	}
	return n + len(e.Trailing), nil
}

func (e *ExtendedInfo) append(dst []byte) []byte {
	dst = le16(dst, e.ClientAddressFamily)
	dst = le16(dst, uint16(len(e.ClientAddress)))
	dst = append(dst, e.ClientAddress...)
	dst = le16(dst, uint16(len(e.ClientDir)))
	dst = append(dst, e.ClientDir...)
	for f := ExtendedTimeZone; f <= e.Present; f++ {
		switch f {
		case ExtendedTimeZone:
			dst = append(dst, e.ClientTimeZone...)
		case ExtendedSessionID:
			dst = le32(dst, e.ClientSessionID)
		case ExtendedPerformanceFlags:
			dst = le32(dst, e.PerformanceFlags)
		case ExtendedAutoReconnectCookie:
			dst = le16(dst, uint16(len(e.AutoReconnectCookie)))
			dst = append(dst, e.AutoReconnectCookie...)
		case ExtendedReserved1:
			dst = le16(dst, e.Reserved1)
		case ExtendedReserved2:
			dst = le16(dst, e.Reserved2)
		case ExtendedDynamicDSTTimeZoneKeyName:
			dst = le16(dst, uint16(len(e.DynamicDSTTimeZoneKeyName)))
			dst = append(dst, e.DynamicDSTTimeZoneKeyName...)
		case ExtendedDynamicDaylightTimeDisabled:
			dst = le16(dst, e.DynamicDaylightTimeDisabled)
		}
	}
	return append(dst, e.Trailing...)
}

// Domain returns the domain name.
func (c *ClientInfo) Domain() string { return c.decode(c.domain) }

// UserName returns the user name.
func (c *ClientInfo) UserName() string { return c.decode(c.userName) }

// AlternateShell returns the program to start instead of the shell, empty for the default.
func (c *ClientInfo) AlternateShell() string { return c.decode(c.alternateShell) }

// WorkingDir returns the working directory of AlternateShell.
func (c *ClientInfo) WorkingDir() string { return c.decode(c.workingDir) }

// SetDomain sets the domain name. Like the other string setters it refuses invalid UTF-8, NUL
// characters and strings longer than MaxStringUnits UTF-16 code units.
func (c *ClientInfo) SetDomain(s string) error { return setString(&c.domain, s, "domain") }

// SetUserName sets the user name.
func (c *ClientInfo) SetUserName(s string) error { return setString(&c.userName, s, "user name") }

// SetAlternateShell sets the program the server starts instead of the shell.
func (c *ClientInfo) SetAlternateShell(s string) error {
	return setString(&c.alternateShell, s, "alternate shell")
}

// SetWorkingDir sets the working directory of AlternateShell.
func (c *ClientInfo) SetWorkingDir(s string) error {
	return setString(&c.workingDir, s, "working directory")
}

// SetPassword replaces the password, overwriting the previous one first. Errors never contain
// the value.
func (c *ClientInfo) SetPassword(password string) error {
	var units []uint16
	for i, r := range password {
		if r == utf8.RuneError && !strings.HasPrefix(password[i:], "\uFFFD") {
			clear(units)
			return invalid("password is not valid UTF-8")
		}
		var err error
		if units, err = appendUnit(units, r, "password"); err != nil {
			return err
		}
	}
	return c.replacePassword(units)
}

// SetPasswordUTF8 is SetPassword for a password held in a byte slice, which it does not retain
// (the caller may clear it afterwards), so that no immutable string copy is created.
func (c *ClientInfo) SetPasswordUTF8(password []byte) error {
	var units []uint16
	for b := password; len(b) > 0; {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			clear(units)
			return invalid("password is not valid UTF-8")
		}
		b = b[n:]
		var err error
		if units, err = appendUnit(units, r, "password"); err != nil {
			return err
		}
	}
	return c.replacePassword(units)
}

func (c *ClientInfo) replacePassword(units []uint16) error {
	if len(units) > MaxStringUnits {
		clear(units)
		return invalid("password longer than %d UTF-16 code units", MaxStringUnits)
	}
	c.ZeroPassword()
	if len(units) > 0 {
		c.password = newSecret(units)
	}
	return nil
}

// appendUnit appends r as UTF-16, clearing units on error so no partial secret stays behind.
func appendUnit(units []uint16, r rune, what string) ([]uint16, error) {
	if r == 0 {
		clear(units)
		return nil, invalid("%s contains a NUL character", what)
	}
	if len(units) >= MaxStringUnits+1 {
		clear(units)
		return nil, invalid("%s longer than %d UTF-16 code units", what, MaxStringUnits)
	}
	// Grow explicitly and clear the old array, so that reallocation leaves no copy behind.
	if cap(units)-len(units) < 2 {
		grown := make([]uint16, len(units), 2*cap(units)+8)
		copy(grown, units)
		clear(units)
		units = grown
	}
	return utf16.AppendRune(units, r), nil
}

// HasPassword reports whether the password is not empty.
func (c *ClientInfo) HasPassword() bool { return len(c.passwordUnits()) > 0 }

// PasswordEqual reports, in time independent of where they differ, whether the password is s.
func (c *ClientInfo) PasswordEqual(s string) bool {
	rs := []rune(s)
	want := utf16.Encode(rs)
	defer clear(want)
	defer clear(rs)
	return unitsEqual(c.passwordUnits(), want)
}

// ZeroPassword overwrites the password held by c with zeros and empties it.
func (c *ClientInfo) ZeroPassword() {
	if c.password != nil {
		p := c.password()
		clear(*p)
		*p = nil
		c.password = nil
	}
}

func (c *ClientInfo) passwordUnits() []uint16 {
	if c.password == nil {
		return nil
	}
	return *c.password()
}

// Equal reports whether c and o hold the same fields, comparing the passwords in constant time.
func (c *ClientInfo) Equal(o *ClientInfo) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.CodePage == o.CodePage && c.Flags == o.Flags &&
		slices.Equal(c.domain, o.domain) && slices.Equal(c.userName, o.userName) &&
		slices.Equal(c.alternateShell, o.alternateShell) && slices.Equal(c.workingDir, o.workingDir) &&
		unitsEqual(c.passwordUnits(), o.passwordUnits()) && c.Extended.Equal(o.Extended)
}

// Equal reports whether e and o hold the same fields.
func (e *ExtendedInfo) Equal(o *ExtendedInfo) bool {
	if e == nil || o == nil {
		return e == o
	}
	return e.ClientAddressFamily == o.ClientAddressFamily && bytes.Equal(e.ClientAddress, o.ClientAddress) &&
		bytes.Equal(e.ClientDir, o.ClientDir) && e.Present == o.Present && bytes.Equal(e.ClientTimeZone, o.ClientTimeZone) &&
		e.ClientSessionID == o.ClientSessionID && e.PerformanceFlags == o.PerformanceFlags &&
		subtle.ConstantTimeCompare(e.AutoReconnectCookie, o.AutoReconnectCookie) == 1 &&
		e.Reserved1 == o.Reserved1 && e.Reserved2 == o.Reserved2 &&
		bytes.Equal(e.DynamicDSTTimeZoneKeyName, o.DynamicDSTTimeZoneKeyName) &&
		e.DynamicDaylightTimeDisabled == o.DynamicDaylightTimeDisabled && bytes.Equal(e.Trailing, o.Trailing)
}

// unitsEqual compares two code unit slices in time that depends on their lengths only.
func unitsEqual(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	var diff uint16
	for i := range a {
		diff |= a[i] ^ b[i]
	}
	return subtle.ConstantTimeEq(int32(diff), 0) == 1
}

// SetAutologon sets or clears INFO_AUTOLOGON (log on with the credentials in the packet).
func (c *ClientInfo) SetAutologon(on bool) {
	if on {
		c.Flags |= InfoAutologon
	} else {
		c.Flags &^= InfoAutologon
	}
}

// Compression reports whether the client offers bulk compression (INFO_COMPRESSION) and the
// highest compression type it supports (a PacketComprType* value).
func (c *ClientInfo) Compression() (enabled bool, typ uint8) {
	return c.Flags&InfoCompression != 0, uint8((c.Flags & InfoCompressionTypeMask) >> infoCompressionTypeShift)
}

// DisableCompression clears INFO_COMPRESSION and the compression type, so that the server
// sends no bulk-compressed (MPPC, NCRUSH, XCRUSH) data a recorder could not decode alone.
func (c *ClientInfo) DisableCompression() {
	c.Flags &^= InfoCompression | InfoCompressionTypeMask
}

func (c *ClientInfo) decode(units []uint16) string {
	if c.Flags&InfoUnicode != 0 {
		return string(utf16.Decode(units))
	}
	rs := make([]rune, len(units))
	for i, u := range units {
		rs[i] = rune(u)
	}
	return string(rs)
}

func setString(dst *[]uint16, s, what string) error {
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", what)
	}
	var units []uint16
	for _, r := range s {
		if r == 0 {
			return invalid("%s contains a NUL character", what)
		}
		units = utf16.AppendRune(units, r)
	}
	if len(units) > MaxStringUnits {
		return invalid("%s longer than %d UTF-16 code units", what, MaxStringUnits)
	}
	*dst = units
	return nil
}

// ClientAddressString returns clientAddress decoded from UTF-16LE, without the terminator.
func (e *ExtendedInfo) ClientAddressString() string { return decodeUTF16Z(e.ClientAddress) }

// ClientDirString returns clientDir decoded from UTF-16LE, without the terminator.
func (e *ExtendedInfo) ClientDirString() string { return decodeUTF16Z(e.ClientDir) }

// SetClientAddress sets clientAddress to s in UTF-16LE with a null terminator. The address
// family is left to the caller.
func (e *ExtendedInfo) SetClientAddress(s string) error {
	var units []uint16
	if err := setString(&units, s, "client address"); err != nil {
		return err
	}
	if n := 2*len(units) + 2; n > MaxClientAddressBytes {
		return invalid("client address of %d bytes, at most %d", n, MaxClientAddressBytes)
	}
	b := make([]byte, 0, 2*len(units)+2)
	for _, u := range units {
		b = le16(b, u)
	}
	e.ClientAddress = le16(b, 0)
	return nil
}

func decodeUTF16Z(b []byte) string {
	units := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		u := uint16(b[i]) | uint16(b[i+1])<<8
		if u == 0 {
			break
		}
		units = append(units, u)
	}
	return string(utf16.Decode(units))
}

// String describes the packet with the password and auto-reconnect cookie redacted.
func (c ClientInfo) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "ClientInfo{CodePage:%d Flags:0x%08x Domain:%q UserName:%q Password:%s AlternateShell:%q WorkingDir:%q",
		c.CodePage, c.Flags, c.Domain(), c.UserName(), redacted(c.HasPassword()), c.AlternateShell(), c.WorkingDir())
	if c.Extended != nil {
		sb.WriteString(" Extended:")
		sb.WriteString(c.Extended.String())
	}
	sb.WriteByte('}')
	return sb.String()
}

// GoString is String for the %#v verb; the password stays redacted.
func (c ClientInfo) GoString() string { return "pdu." + c.String() }

// Format implements fmt.Formatter so that every verb prints the redacted String.
func (c ClientInfo) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, c.GoString())
		return
	}
	_, _ = io.WriteString(f, c.String())
}

// String describes the extended info with the auto-reconnect cookie redacted.
func (e ExtendedInfo) String() string {
	return fmt.Sprintf("{ClientAddressFamily:0x%04x ClientAddress:%q ClientDir:%q Present:%d ClientSessionID:%d PerformanceFlags:0x%08x AutoReconnectCookie:%s Trailing:%d bytes}",
		e.ClientAddressFamily, e.ClientAddressString(), e.ClientDirString(), e.Present, e.ClientSessionID,
		e.PerformanceFlags, redacted(len(e.AutoReconnectCookie) > 0), len(e.Trailing))
}

// Format implements fmt.Formatter so that every verb prints the redacted String.
func (e ExtendedInfo) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, e.String()) }

// MarshalJSON encodes the redacted String as a JSON string, so that JSON loggers print no
// password.
func (c ClientInfo) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

// MarshalJSON encodes the redacted String as a JSON string.
func (e ExtendedInfo) MarshalJSON() ([]byte, error) { return json.Marshal(e.String()) }

// LogValue implements slog.LogValuer with the redacted String.
func (c ClientInfo) LogValue() slog.Value { return slog.StringValue(c.String()) }

// LogValue implements slog.LogValuer with the redacted String.
func (e ExtendedInfo) LogValue() slog.Value { return slog.StringValue(e.String()) }

func redacted(set bool) string {
	if set {
		return "<redacted>"
	}
	return "<empty>"
}
