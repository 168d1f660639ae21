package mcs

import (
	"fmt"

	"github.com/sessionconnector/sessionconnector/rdp/per"
)

// Result is the T.125 Result ENUMERATED of the Connect Response and the confirm PDUs.
type Result uint8

// T.125 results.
const (
	ResultSuccessful             Result = 0  // rt-successful
	ResultDomainMerging          Result = 1  // rt-domain-merging
	ResultDomainNotHierarchical  Result = 2  // rt-domain-not-hierarchical
	ResultNoSuchChannel          Result = 3  // rt-no-such-channel
	ResultNoSuchDomain           Result = 4  // rt-no-such-domain
	ResultNoSuchUser             Result = 5  // rt-no-such-user
	ResultNotAdmitted            Result = 6  // rt-not-admitted
	ResultOtherUserID            Result = 7  // rt-other-user-id
	ResultParametersUnacceptable Result = 8  // rt-parameters-unacceptable
	ResultTokenNotAvailable      Result = 9  // rt-token-not-available
	ResultTokenNotPossessed      Result = 10 // rt-token-not-possessed
	ResultTooManyChannels        Result = 11 // rt-too-many-channels
	ResultTooManyTokens          Result = 12 // rt-too-many-tokens
	ResultTooManyUsers           Result = 13 // rt-too-many-users
	ResultUnspecifiedFailure     Result = 14 // rt-unspecified-failure
	ResultUserRejected           Result = 15 // rt-user-rejected
)

const (
	resultCount   = 16
	reasonCount   = 5
	priorityCount = 4
	// userIDBase is the T.125 UserId lower bound (MCS_BASE_CHANNEL_ID in FreeRDP).
	userIDBase                = 1001
	domainHeaderUserIDPresent = 0x02
	segmentationMask          = 0x03
	maxSendDataLen            = per.MaxLength
	// sendDataHeaderLen counts choice, initiator, channelId and the priority octet.
	sendDataHeaderLen = 6

	attachUserConfirmLen                 = 4
	attachUserConfirmWithoutInitiatorLen = 2
	channelJoinConfirmLen                = 8
	channelJoinConfirmWithoutChannelLen  = 6
)

// Reason is the T.125 Reason ENUMERATED of the Disconnect Provider Ultimatum.
type Reason uint8

// T.125 reasons.
const (
	ReasonDomainDisconnected Reason = 0 // rn-domain-disconnected
	ReasonProviderInitiated  Reason = 1 // rn-provider-initiated
	ReasonTokenPurged        Reason = 2 // rn-token-purged
	ReasonUserRequested      Reason = 3 // rn-user-requested
	ReasonChannelPurged      Reason = 4 // rn-channel-purged
)

// Data priorities (T.125 DataPriority).
const (
	PriorityTop    uint8 = 0
	PriorityHigh   uint8 = 1 // what RDP peers send
	PriorityMedium uint8 = 2
	PriorityLow    uint8 = 3
)

// Segmentation flags (T.125 Segmentation BIT STRING { begin(0), end(1) }).
const (
	SegmentationBegin uint8 = 0x02
	SegmentationEnd   uint8 = 0x01
	// SegmentationWhole marks an unsegmented payload, as RDP peers always send.
	SegmentationWhole = SegmentationBegin | SegmentationEnd
)

// ErectDomainRequest is the MCS Erect Domain Request PDU (MS-RDPBCGR 2.2.1.5).
type ErectDomainRequest struct {
	SubHeight   uint32
	SubInterval uint32
}

// DisconnectProviderUltimatum is the MCS Disconnect Provider Ultimatum PDU.
type DisconnectProviderUltimatum struct {
	Reason Reason
}

// AttachUserRequest is the MCS Attach User Request PDU (MS-RDPBCGR 2.2.1.6).
type AttachUserRequest struct{}

// AttachUserConfirm is the MCS Attach User Confirm PDU (MS-RDPBCGR 2.2.1.7).
type AttachUserConfirm struct {
	Result Result
	// Initiator is the user ID the server assigned (the client's user channel), or 0 when
	// absent (a user ID is never below 1001).
	Initiator uint16
}

// ChannelJoinRequest is the MCS Channel Join Request PDU (MS-RDPBCGR 2.2.1.8).
type ChannelJoinRequest struct {
	Initiator uint16 // the user ID from the Attach User Confirm
	ChannelID uint16
}

// ChannelJoinConfirm is the MCS Channel Join Confirm PDU (MS-RDPBCGR 2.2.1.9).
type ChannelJoinConfirm struct {
	Result    Result
	Initiator uint16
	Requested uint16
	// ChannelID is the joined channel, present when HasChannelID.
	ChannelID    uint16
	HasChannelID bool
}

// SendData is the content of a Send Data Request or Indication.
type SendData struct {
	Initiator    uint16
	ChannelID    uint16
	Priority     uint8 // Priority*
	Segmentation uint8 // Segmentation* flags
	// Data is the payload; in a parsed PDU it aliases the input.
	Data []byte
}

// SendDataRequest is the MCS Send Data Request PDU (client to server).
type SendDataRequest struct{ SendData }

// SendDataIndication is the MCS Send Data Indication PDU (server to client).
type SendDataIndication struct{ SendData }

// Type returns TypeErectDomainRequest.
func (*ErectDomainRequest) Type() PDUType { return TypeErectDomainRequest }

// Type returns TypeDisconnectProviderUltimatum.
func (*DisconnectProviderUltimatum) Type() PDUType { return TypeDisconnectProviderUltimatum }

// Type returns TypeAttachUserRequest.
func (*AttachUserRequest) Type() PDUType { return TypeAttachUserRequest }

// Type returns TypeAttachUserConfirm.
func (*AttachUserConfirm) Type() PDUType { return TypeAttachUserConfirm }

// Type returns TypeChannelJoinRequest.
func (*ChannelJoinRequest) Type() PDUType { return TypeChannelJoinRequest }

// Type returns TypeChannelJoinConfirm.
func (*ChannelJoinConfirm) Type() PDUType { return TypeChannelJoinConfirm }

// Type returns TypeSendDataRequest.
func (*SendDataRequest) Type() PDUType { return TypeSendDataRequest }

// Type returns TypeSendDataIndication.
func (*SendDataIndication) Type() PDUType { return TypeSendDataIndication }

// Marshal returns the PDU as a whole TPKT frame.
func (p *ErectDomainRequest) Marshal() ([]byte, error) { return frame(p) }

// Marshal returns the PDU as a whole TPKT frame.
func (p *DisconnectProviderUltimatum) Marshal() ([]byte, error) { return frame(p) }

// Marshal returns the PDU as a whole TPKT frame.
func (p *AttachUserRequest) Marshal() ([]byte, error) { return frame(p) }

// Marshal returns the PDU as a whole TPKT frame.
func (p *AttachUserConfirm) Marshal() ([]byte, error) { return frame(p) }

// Marshal returns the PDU as a whole TPKT frame.
func (p *ChannelJoinRequest) Marshal() ([]byte, error) { return frame(p) }

// Marshal returns the PDU as a whole TPKT frame.
func (p *ChannelJoinConfirm) Marshal() ([]byte, error) { return frame(p) }

// Marshal returns the PDU as a whole TPKT frame.
func (p *SendDataRequest) Marshal() ([]byte, error) { return frame(p) }

// Marshal returns the PDU as a whole TPKT frame.
func (p *SendDataIndication) Marshal() ([]byte, error) { return frame(p) }

// ParseDomainPDU parses a PER-encoded DomainMCSPDU (the user data of an X.224 Data TPDU). It
// returns the type and the parsed PDU, or the type and an error wrapping ErrUnsupported for a
// valid type this package does not decode. The PDU must fill b exactly.
func ParseDomainPDU(b []byte) (PDUType, PDU, error) {
	if len(b) == 0 {
		return 0, nil, malformed("empty domain PDU")
	}
	t := PDUType(b[0] >> 2)
	var (
		p   PDU
		err error
	)
	switch t {
	case TypeErectDomainRequest:
		p, err = parseErectDomainRequest(b)
	case TypeDisconnectProviderUltimatum:
		p, err = parseDisconnectProviderUltimatum(b)
	case TypeAttachUserRequest:
		if len(b) != 1 {
			err = malformed("%s of %d bytes, want 1", t, len(b))
		} else {
			p = &AttachUserRequest{}
		}
	case TypeAttachUserConfirm:
		p, err = parseAttachUserConfirm(b)
	case TypeChannelJoinRequest:
		p, err = parseChannelJoinRequest(b)
	case TypeChannelJoinConfirm:
		p, err = parseChannelJoinConfirm(b)
	case TypeSendDataRequest:
		var d SendData
		if d, err = parseSendData(b, t); err == nil {
			p = &SendDataRequest{d}
		}
	case TypeSendDataIndication:
		var d SendData
		if d, err = parseSendData(b, t); err == nil {
			p = &SendDataIndication{d}
		}
	default:
		if t >= domainChoiceCount {
			return 0, nil, malformed("domain PDU choice %d, at most %d", uint8(t), domainChoiceCount-1)
		}
		return t, nil, fmt.Errorf("%w: %s", ErrUnsupported, t)
	}
	if err != nil {
		return t, nil, err
	}
	return t, p, nil
}

func perError(t PDUType, field string, err error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrMalformed, t, field, err)
}

func parseErectDomainRequest(b []byte) (*ErectDomainRequest, error) {
	t := TypeErectDomainRequest
	r := per.NewReader(b[1:])
	var p ErectDomainRequest
	var err error
	if p.SubHeight, _, err = r.ReadInteger(); err != nil {
		return nil, perError(t, "subHeight", err)
	}
	if p.SubInterval, _, err = r.ReadInteger(); err != nil {
		return nil, perError(t, "subInterval", err)
	}
	if !r.Empty() {
		return nil, malformed("%s: %d bytes after the PDU", t, r.Len())
	}
	return &p, nil
}

func parseDisconnectProviderUltimatum(b []byte) (*DisconnectProviderUltimatum, error) {
	t := TypeDisconnectProviderUltimatum
	if len(b) != 2 {
		return nil, malformed("%s of %d bytes, want 2", t, len(b))
	}
	reason := (b[0]&0x03)<<1 | b[1]>>7
	if reason >= reasonCount {
		return nil, malformed("%s reason %d, want below %d", t, reason, reasonCount)
	}
	return &DisconnectProviderUltimatum{Reason: Reason(reason)}, nil
}

// confirmHeader decodes the 11 bits of a confirm PDU: choice (6), presence of the optional
// field (1), result (4).
func confirmHeader(b []byte) (present bool, result Result) {
	return b[0]&domainHeaderUserIDPresent != 0, Result((b[0]&0x01)<<3 | b[1]>>5)
}

func appendConfirmHeader(dst []byte, t PDUType, present bool, result Result) ([]byte, error) {
	if result >= resultCount {
		return dst, invalid("%s result %d, want below %d", t, result, resultCount)
	}
	b0 := byte(t)<<2 | byte(result)>>3
	if present {
		b0 |= domainHeaderUserIDPresent
	}
	return append(dst, b0, byte(result&0x07)<<5), nil
}

func parseAttachUserConfirm(b []byte) (*AttachUserConfirm, error) {
	t := TypeAttachUserConfirm
	if len(b) < attachUserConfirmWithoutInitiatorLen {
		return nil, malformed("%s of %d bytes, at least %d", t, len(b), attachUserConfirmWithoutInitiatorLen)
	}
	present, result := confirmHeader(b)
	p := &AttachUserConfirm{Result: result}
	want := attachUserConfirmWithoutInitiatorLen
	if present {
		want = attachUserConfirmLen
	}
	if len(b) != want {
		return nil, malformed("%s of %d bytes, want %d", t, len(b), want)
	}
	if present {
		var err error
		if p.Initiator, err = per.NewReader(b[2:]).ReadInteger16(userIDBase); err != nil {
			return nil, perError(t, "initiator", err)
		}
	}
	return p, nil
}

func parseChannelJoinRequest(b []byte) (*ChannelJoinRequest, error) {
	t := TypeChannelJoinRequest
	if len(b) != 5 {
		return nil, malformed("%s of %d bytes, want 5", t, len(b))
	}
	r := per.NewReader(b[1:])
	var p ChannelJoinRequest
	var err error
	if p.Initiator, err = r.ReadInteger16(userIDBase); err != nil {
		return nil, perError(t, "initiator", err)
	}
	if p.ChannelID, err = r.ReadInteger16(0); err != nil {
		return nil, perError(t, "channelId", err)
	}
	return &p, nil
}

func parseChannelJoinConfirm(b []byte) (*ChannelJoinConfirm, error) {
	t := TypeChannelJoinConfirm
	if len(b) < channelJoinConfirmWithoutChannelLen {
		return nil, malformed("%s of %d bytes, at least %d", t, len(b), channelJoinConfirmWithoutChannelLen)
	}
	present, result := confirmHeader(b)
	want := channelJoinConfirmWithoutChannelLen
	if present {
		want = channelJoinConfirmLen
	}
	if len(b) != want {
		return nil, malformed("%s of %d bytes, want %d", t, len(b), want)
	}
	p := &ChannelJoinConfirm{Result: result, HasChannelID: present}
	r := per.NewReader(b[2:])
	var err error
	if p.Initiator, err = r.ReadInteger16(userIDBase); err != nil {
		return nil, perError(t, "initiator", err)
	}
	if p.Requested, err = r.ReadInteger16(0); err != nil {
		return nil, perError(t, "requested", err)
	}
	if present {
		if p.ChannelID, err = r.ReadInteger16(0); err != nil {
			return nil, perError(t, "channelId", err)
		}
	}
	return p, nil
}

func parseSendData(b []byte, t PDUType) (SendData, error) {
	var d SendData
	if len(b) < sendDataHeaderLen+1 {
		return d, malformed("%s of %d bytes, at least %d", t, len(b), sendDataHeaderLen+1)
	}
	r := per.NewReader(b[1:])
	var err error
	if d.Initiator, err = r.ReadInteger16(userIDBase); err != nil {
		return d, perError(t, "initiator", err)
	}
	if d.ChannelID, err = r.ReadInteger16(0); err != nil {
		return d, perError(t, "channelId", err)
	}
	flags, err := r.ReadByte()
	if err != nil {
		return d, perError(t, "dataPriority", err)
	}
	d.Priority = flags >> 6
	d.Segmentation = flags >> 4 & segmentationMask
	n, _, err := r.ReadLength()
	if err != nil {
		return d, perError(t, "userData length", err)
	}
	if n != r.Len() {
		return d, malformed("%s userData length %d, but %d bytes follow", t, n, r.Len())
	}
	d.Data = r.Rest()
	return d, nil
}

// AppendMCS appends the PER encoding.
func (p *ErectDomainRequest) AppendMCS(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil ErectDomainRequest")
	}
	dst = append(dst, byte(TypeErectDomainRequest)<<2)
	dst = per.AppendInteger(dst, p.SubHeight)
	return per.AppendInteger(dst, p.SubInterval), nil
}

// AppendMCS appends the PER encoding.
func (p *DisconnectProviderUltimatum) AppendMCS(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil DisconnectProviderUltimatum")
	}
	if p.Reason >= reasonCount {
		return dst, invalid("disconnect reason %d, want below %d", p.Reason, reasonCount)
	}
	return append(dst, byte(TypeDisconnectProviderUltimatum)<<2|byte(p.Reason)>>1, byte(p.Reason&1)<<7), nil
}

// AppendMCS appends the PER encoding.
func (p *AttachUserRequest) AppendMCS(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil AttachUserRequest")
	}
	return append(dst, byte(TypeAttachUserRequest)<<2), nil
}

// AppendMCS appends the PER encoding.
func (p *AttachUserConfirm) AppendMCS(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil AttachUserConfirm")
	}
	present := p.Initiator != 0
	dst, err := appendConfirmHeader(dst, TypeAttachUserConfirm, present, p.Result)
	if err != nil || !present {
		return dst, err
	}
	if dst, err = per.AppendInteger16(dst, p.Initiator, userIDBase); err != nil {
		return dst, fmt.Errorf("%w: attach user confirm initiator: %w", ErrInvalid, err)
	}
	return dst, nil
}

// AppendMCS appends the PER encoding.
func (p *ChannelJoinRequest) AppendMCS(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil ChannelJoinRequest")
	}
	dst = append(dst, byte(TypeChannelJoinRequest)<<2)
	dst, err := per.AppendInteger16(dst, p.Initiator, userIDBase)
	if err != nil {
		return dst, fmt.Errorf("%w: channel join request initiator: %w", ErrInvalid, err)
	}
	return append(dst, byte(p.ChannelID>>8), byte(p.ChannelID)), nil
}

// AppendMCS appends the PER encoding.
func (p *ChannelJoinConfirm) AppendMCS(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil ChannelJoinConfirm")
	}
	dst, err := appendConfirmHeader(dst, TypeChannelJoinConfirm, p.HasChannelID, p.Result)
	if err != nil {
		return dst, err
	}
	if dst, err = per.AppendInteger16(dst, p.Initiator, userIDBase); err != nil {
		return dst, fmt.Errorf("%w: channel join confirm initiator: %w", ErrInvalid, err)
	}
	dst = append(dst, byte(p.Requested>>8), byte(p.Requested))
	if p.HasChannelID {
		dst = append(dst, byte(p.ChannelID>>8), byte(p.ChannelID))
	}
	return dst, nil
}

func (d *SendData) appendMCS(dst []byte, t PDUType) ([]byte, error) {
	if d.Priority >= priorityCount {
		return dst, invalid("%s priority %d, want below %d", t, d.Priority, priorityCount)
	}
	if d.Segmentation > segmentationMask {
		return dst, invalid("%s segmentation 0x%02x, want at most 0x03", t, d.Segmentation)
	}
	if len(d.Data) > maxSendDataLen {
		return dst, invalid("%s payload of %d bytes, at most %d", t, len(d.Data), maxSendDataLen)
	}
	dst = append(dst, byte(t)<<2)
	dst, err := per.AppendInteger16(dst, d.Initiator, userIDBase)
	if err != nil {
		return dst, fmt.Errorf("%w: %s initiator: %w", ErrInvalid, t, err)
	}
	dst = append(dst, byte(d.ChannelID>>8), byte(d.ChannelID), d.Priority<<6|d.Segmentation<<4)
	if dst, err = per.AppendLength(dst, len(d.Data)); err != nil {
		return dst, fmt.Errorf("%w: %s length: %w", ErrInvalid, t, err)
	}
	return append(dst, d.Data...), nil
}

// AppendMCS appends the PER encoding.
func (p *SendDataRequest) AppendMCS(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil SendDataRequest")
	}
	return p.appendMCS(dst, TypeSendDataRequest)
}

// AppendMCS appends the PER encoding.
func (p *SendDataIndication) AppendMCS(dst []byte) ([]byte, error) {
	if p == nil {
		return dst, invalid("nil SendDataIndication")
	}
	return p.appendMCS(dst, TypeSendDataIndication)
}

// AppendSendDataHeader appends the header of a Send Data Request or Indication (t must be one
// of them) for an unsegmented, high-priority payload of n bytes, for a caller that appends the
// payload itself.
func AppendSendDataHeader(dst []byte, t PDUType, initiator, channelID uint16, n int) ([]byte, error) {
	if t != TypeSendDataRequest && t != TypeSendDataIndication {
		return dst, invalid("%s is not a Send Data PDU", t)
	}
	if n < 0 || n > maxSendDataLen {
		return dst, invalid("%s payload of %d bytes, at most %d", t, n, maxSendDataLen)
	}
	out := append(dst, byte(t)<<2)
	out, err := per.AppendInteger16(out, initiator, userIDBase)
	if err != nil {
		return dst, fmt.Errorf("%w: %s initiator: %w", ErrInvalid, t, err)
	}
	out = append(out, byte(channelID>>8), byte(channelID), PriorityHigh<<6|SegmentationWhole<<4)
	if out, err = per.AppendLength(out, n); err != nil {
		return dst, fmt.Errorf("%w: %s length: %w", ErrInvalid, t, err)
	}
	return out, nil
}

// String returns the T.125 name of the result, e.g. "rt-successful".
func (r Result) String() string {
	names := [...]string{"rt-successful", "rt-domain-merging", "rt-domain-not-hierarchical", "rt-no-such-channel",
		"rt-no-such-domain", "rt-no-such-user", "rt-not-admitted", "rt-other-user-id", "rt-parameters-unacceptable",
		"rt-token-not-available", "rt-token-not-possessed", "rt-too-many-channels", "rt-too-many-tokens",
		"rt-too-many-users", "rt-unspecified-failure", "rt-user-rejected"}
	if int(r) < len(names) {
		return names[r]
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

// String returns the T.125 name of the reason, e.g. "rn-user-requested".
func (r Reason) String() string {
	names := [...]string{"rn-domain-disconnected", "rn-provider-initiated", "rn-token-purged", "rn-user-requested", "rn-channel-purged"}
	if int(r) < len(names) {
		return names[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}
