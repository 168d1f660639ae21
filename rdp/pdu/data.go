package pdu

import "fmt"

// The payload parsers below take the bytes after the Share Data Header (SharePDU.Payload of an
// uncompressed data PDU). They need the fixed fields and ignore any bytes after them.

// needPayload checks that an uncompressed payload holds at least n bytes.
func needPayload(b []byte, n int, name string) error {
	if len(b) < n {
		return malformed("%s needs %d bytes, have %d", name, n, len(b))
	}
	return nil
}

// Synchronize message type (MS-RDPBCGR 2.2.1.14.1).
const SyncMsgTypeSync uint16 = 0x0001 // SYNCMSGTYPE_SYNC

// Synchronize is TS_SYNCHRONIZE_PDU's payload (MS-RDPBCGR 2.2.1.14.1).
type Synchronize struct {
	MessageType uint16
	TargetUser  uint16
}

// ParseSynchronize decodes a Synchronize payload.
func ParseSynchronize(b []byte) (Synchronize, error) {
	if err := needPayload(b, 4, "synchronize"); err != nil {
		return Synchronize{}, err
	}
	r := reader{b: b}
	return Synchronize{MessageType: r.u16(""), TargetUser: r.u16("")}, nil
}

// Append appends the payload to dst.
func (s Synchronize) Append(dst []byte) []byte { return le16(le16(dst, s.MessageType), s.TargetUser) }

// Control actions (MS-RDPBCGR 2.2.1.15.1).
const (
	CtrlActionRequestControl uint16 = 0x0001 // CTRLACTION_REQUEST_CONTROL
	CtrlActionGrantedControl uint16 = 0x0002 // CTRLACTION_GRANTED_CONTROL
	CtrlActionDetach         uint16 = 0x0003 // CTRLACTION_DETACH
	CtrlActionCooperate      uint16 = 0x0004 // CTRLACTION_COOPERATE
)

// Control is TS_CONTROL_PDU's payload (MS-RDPBCGR 2.2.1.15.1).
type Control struct {
	Action    uint16
	GrantID   uint16
	ControlID uint32
}

// ParseControl decodes a Control payload.
func ParseControl(b []byte) (Control, error) {
	if err := needPayload(b, 8, "control"); err != nil {
		return Control{}, err
	}
	r := reader{b: b}
	return Control{Action: r.u16(""), GrantID: r.u16(""), ControlID: r.u32("")}, nil
}

// Append appends the payload to dst.
func (c Control) Append(dst []byte) []byte {
	return le32(le16(le16(dst, c.Action), c.GrantID), c.ControlID)
}

// Font List and Font Map flags (MS-RDPBCGR 2.2.1.18.1, 2.2.1.22.1).
const (
	FontListFirst uint16 = 0x0001 // FONTLIST_FIRST
	FontListLast  uint16 = 0x0002 // FONTLIST_LAST
	FontMapFirst  uint16 = 0x0001 // FONTMAP_FIRST
	FontMapLast   uint16 = 0x0002 // FONTMAP_LAST
)

// FontList is TS_FONT_LIST_PDU's payload (MS-RDPBCGR 2.2.1.18.1), the client's last
// finalization PDU.
type FontList struct {
	NumberFonts   uint16
	TotalNumFonts uint16
	ListFlags     uint16
	EntrySize     uint16
}

// ParseFontList decodes a Font List payload.
func ParseFontList(b []byte) (FontList, error) {
	if err := needPayload(b, 8, "font list"); err != nil {
		return FontList{}, err
	}
	r := reader{b: b}
	return FontList{NumberFonts: r.u16(""), TotalNumFonts: r.u16(""), ListFlags: r.u16(""), EntrySize: r.u16("")}, nil
}

// Append appends the payload to dst.
func (f FontList) Append(dst []byte) []byte {
	return le16(le16(le16(le16(dst, f.NumberFonts), f.TotalNumFonts), f.ListFlags), f.EntrySize)
}

// FontMap is TS_FONT_MAP_PDU's payload (MS-RDPBCGR 2.2.1.22.1), the server's last finalization
// PDU: after it the session is active.
type FontMap struct {
	NumberEntries   uint16
	TotalNumEntries uint16
	MapFlags        uint16
	EntrySize       uint16
}

// ParseFontMap decodes a Font Map payload.
func ParseFontMap(b []byte) (FontMap, error) {
	if err := needPayload(b, 8, "font map"); err != nil {
		return FontMap{}, err
	}
	r := reader{b: b}
	return FontMap{NumberEntries: r.u16(""), TotalNumEntries: r.u16(""), MapFlags: r.u16(""), EntrySize: r.u16("")}, nil
}

// Append appends the payload to dst.
func (f FontMap) Append(dst []byte) []byte {
	return le16(le16(le16(le16(dst, f.NumberEntries), f.TotalNumEntries), f.MapFlags), f.EntrySize)
}

// A few Set Error Info codes (MS-RDPBCGR 2.2.5.1.1); the full list is long.
const (
	ErrInfoNone                           uint32 = 0x00000000 // ERRINFO_NONE
	ErrInfoRPCInitiatedDisconnect         uint32 = 0x00000001 // ERRINFO_RPC_INITIATED_DISCONNECT
	ErrInfoRPCInitiatedLogoff             uint32 = 0x00000002 // ERRINFO_RPC_INITIATED_LOGOFF
	ErrInfoIdleTimeout                    uint32 = 0x00000003 // ERRINFO_IDLE_TIMEOUT
	ErrInfoLogonTimeout                   uint32 = 0x00000004 // ERRINFO_LOGON_TIMEOUT
	ErrInfoDisconnectedByOtherConnection  uint32 = 0x00000005 // ERRINFO_DISCONNECTED_BY_OTHERCONNECTION
	ErrInfoOutOfMemory                    uint32 = 0x00000006 // ERRINFO_OUT_OF_MEMORY
	ErrInfoServerDeniedConnection         uint32 = 0x00000007 // ERRINFO_SERVER_DENIED_CONNECTION
	ErrInfoServerInsufficientPrivileges   uint32 = 0x00000009 // ERRINFO_SERVER_INSUFFICIENT_PRIVILEGES
	ErrInfoServerFreshCredentialsRequired uint32 = 0x0000000A // ERRINFO_SERVER_FRESH_CREDENTIALS_REQUIRED
	ErrInfoRPCInitiatedDisconnectByUser   uint32 = 0x0000000B // ERRINFO_RPC_INITIATED_DISCONNECT_BYUSER
	ErrInfoLogoffByUser                   uint32 = 0x0000000C // ERRINFO_LOGOFF_BY_USER
)

// SetErrorInfo is TS_SET_ERROR_INFO_PDU's payload (MS-RDPBCGR 2.2.5.1.1): why the server is
// about to disconnect.
type SetErrorInfo struct {
	ErrorInfo uint32
}

// ParseSetErrorInfo decodes a Set Error Info payload.
func ParseSetErrorInfo(b []byte) (SetErrorInfo, error) {
	if err := needPayload(b, 4, "set error info"); err != nil {
		return SetErrorInfo{}, err
	}
	r := reader{b: b}
	return SetErrorInfo{ErrorInfo: r.u32("")}, nil
}

// Append appends the payload to dst.
func (s SetErrorInfo) Append(dst []byte) []byte { return le32(dst, s.ErrorInfo) }

// Save Session Info types (MS-RDPBCGR 2.2.10.1.1).
const (
	InfoTypeLogon             uint32 = 0x00000000 // INFOTYPE_LOGON
	InfoTypeLogonLong         uint32 = 0x00000001 // INFOTYPE_LOGON_LONG
	InfoTypeLogonPlainNotify  uint32 = 0x00000002 // INFOTYPE_LOGON_PLAINNOTIFY
	InfoTypeLogonExtendedInfo uint32 = 0x00000003 // INFOTYPE_LOGON_EXTENDED_INFO

	LogonExAutoReconnectCookie uint32 = 0x00000001 // LOGON_EX_AUTORECONNECTCOOKIE
	LogonExLogonErrors         uint32 = 0x00000002 // LOGON_EX_LOGONERRORS
)

// Logon error notification types and data (MS-RDPBCGR 2.2.10.1.1.4.1.1).
const (
	LogonMsgSessionBusyOptions uint32 = 0xFFFFFFF8 // LOGON_MSG_SESSION_BUSY_OPTIONS
	LogonMsgDisconnectRefused  uint32 = 0xFFFFFFF9 // LOGON_MSG_DISCONNECT_REFUSED
	LogonMsgNoPermission       uint32 = 0xFFFFFFFA // LOGON_MSG_NO_PERMISSION
	LogonMsgBumpOptions        uint32 = 0xFFFFFFFB // LOGON_MSG_BUMP_OPTIONS
	LogonMsgReconnectOptions   uint32 = 0xFFFFFFFC // LOGON_MSG_RECONNECT_OPTIONS
	LogonMsgSessionTerminate   uint32 = 0xFFFFFFFD // LOGON_MSG_SESSION_TERMINATE
	LogonMsgSessionContinue    uint32 = 0xFFFFFFFE // LOGON_MSG_SESSION_CONTINUE

	LogonFailedBadPassword    uint32 = 0x00000000 // LOGON_FAILED_BAD_PASSWORD
	LogonFailedUpdatePassword uint32 = 0x00000001 // LOGON_FAILED_UPDATE_PASSWORD
	LogonFailedOther          uint32 = 0x00000002 // LOGON_FAILED_OTHER
	LogonWarning              uint32 = 0x00000003 // LOGON_WARNING
)

// SaveSessionInfo is TS_SAVE_SESSION_INFO_PDU_DATA (MS-RDPBCGR 2.2.10.1.1), the logon
// notification a server sends when the user has logged on (with INFO_LOGONNOTIFY) or, with
// INFO_LOGONERRORS, to report logon errors.
type SaveSessionInfo struct {
	InfoType uint32
	// InfoData is the rest of the payload, kept as sent. It aliases the parsed input.
	InfoData []byte
}

// ParseSaveSessionInfo decodes a Save Session Info payload.
func ParseSaveSessionInfo(b []byte) (SaveSessionInfo, error) {
	if err := needPayload(b, 4, "save session info"); err != nil {
		return SaveSessionInfo{}, err
	}
	r := reader{b: b}
	return SaveSessionInfo{InfoType: r.u32(""), InfoData: r.rest()}, nil
}

// Append appends the payload to dst.
func (s SaveSessionInfo) Append(dst []byte) []byte {
	return append(le32(dst, s.InfoType), s.InfoData...)
}

// LogonErrors returns the logon error notification of an INFOTYPE_LOGON_EXTENDED_INFO
// (TS_LOGON_INFO_EXTENDED with LOGON_EX_LOGONERRORS). ok is false when there is none.
func (s SaveSessionInfo) LogonErrors() (notificationType, notificationData uint32, ok bool, err error) {
	if s.InfoType != InfoTypeLogonExtendedInfo {
		return 0, 0, false, nil
	}
	r := reader{b: s.InfoData}
	r.u16("Length")
	present := r.u32("FieldsPresent")
	if present&LogonExAutoReconnectCookie != 0 {
		n := int(r.u32("cbFieldData"))
		r.take(n, "auto-reconnect cookie")
	}
	if r.err != nil {
		return 0, 0, false, fmt.Errorf("save session info: %w", r.err)
	}
	if present&LogonExLogonErrors == 0 {
		return 0, 0, false, nil
	}
	if n := r.u32("cbFieldData"); r.err == nil && n < 8 {
		return 0, 0, false, malformed("save session info: logon errors field of %d bytes", n)
	}
	t, d := r.u32("errorNotificationType"), r.u32("errorNotificationData")
	if r.err != nil {
		return 0, 0, false, fmt.Errorf("save session info: %w", r.err)
	}
	return t, d, true, nil
}

// Slow-path update types (MS-RDPBCGR 2.2.9.1.1.3.1) and pointer message types (2.2.9.1.1.4).
const (
	UpdateTypeOrders      uint16 = 0x0000 // UPDATETYPE_ORDERS
	UpdateTypeBitmap      uint16 = 0x0001 // UPDATETYPE_BITMAP
	UpdateTypePalette     uint16 = 0x0002 // UPDATETYPE_PALETTE
	UpdateTypeSynchronize uint16 = 0x0003 // UPDATETYPE_SYNCHRONIZE

	PtrMsgTypeSystem   uint16 = 0x0001 // TS_PTRMSGTYPE_SYSTEM
	PtrMsgTypePosition uint16 = 0x0003 // TS_PTRMSGTYPE_POSITION
	PtrMsgTypeColor    uint16 = 0x0006 // TS_PTRMSGTYPE_COLOR
	PtrMsgTypeCached   uint16 = 0x0007 // TS_PTRMSGTYPE_CACHED
	PtrMsgTypePointer  uint16 = 0x0008 // TS_PTRMSGTYPE_POINTER
	PtrMsgTypeLarge    uint16 = 0x0009 // TS_PTRMSGTYPE_LARGE
)

// MessageType returns the first 16-bit field of a data PDU's payload: the updateType of a
// slow-path Update PDU or the messageType of a Pointer PDU. It refuses a compressed payload
// (ErrUnsupported), whose bytes are meaningless without the bulk decompressor's history.
func MessageType(p *SharePDU) (uint16, error) {
	if p == nil || p.Data == nil {
		return 0, malformed("not a data PDU")
	}
	if p.Data.Compressed() {
		return 0, wrapUnsupported(fmt.Sprintf("%s payload is bulk-compressed (compressedType 0x%02x)", PDUType2Name(p.Data.PDUType2), p.Data.CompressedType))
	}
	if err := needPayload(p.Payload, 2, PDUType2Name(p.Data.PDUType2)); err != nil {
		return 0, err
	}
	r := reader{b: p.Payload}
	return r.u16(""), nil
}
