// Package mcs parses and builds the T.125 Multipoint Communication Service PDUs of an RDP
// connection (MS-RDPBCGR 2.2.1.3 to 2.2.1.10 and 2.2.8.1.1.1.1 / 2.2.9.1.1.1.1):
//
//   - the BER-encoded Connect Initial ([APPLICATION 101]) and Connect Response
//     ([APPLICATION 102]), whose userData is a GCC Conference Create Request / Response
//     (package rdp/gcc);
//   - the PER-encoded domain PDUs: Erect Domain Request, Disconnect Provider Ultimatum, Attach
//     User Request / Confirm, Channel Join Request / Confirm, Send Data Request / Indication.
//
// Every MCS PDU travels in an X.224 Data TPDU (02 F0 80) inside a TPKT frame. ReadPDU takes
// such a frame and returns the PDU's type and its parsed form; a PDU's Marshal returns a whole
// frame again. RewriteConnectInitial and RewriteConnectResponse are what an RDP proxy needs to
// change the GCC user data on the way (serverSelectedProtocol, channels, early capability
// flags, clientRequestedProtocols): they parse every layer, let the caller edit the blocks and
// re-encode with every length recomputed, keeping every byte the caller did not change.
//
// Parsing the Connect PDUs is lossless: Marshal of an unmodified parse reproduces the frame,
// including the length forms and the INTEGER widths peers chose. Domain PDUs round-trip by
// value (their padding bits are ignored on input and written as zero).
//
// Errors wrap ErrMalformed (parsing), ErrInvalid (marshalling) or ErrUnsupported (a valid PDU
// this package does not decode); no function panics on any input.
package mcs

import (
	"errors"
	"fmt"

	"github.com/sessionconnector/sessionconnector/rdp/ber"
	"github.com/sessionconnector/sessionconnector/rdp/tpkt"
)

var (
	// ErrMalformed wraps every parsing error.
	ErrMalformed = errors.New("mcs: malformed PDU")
	// ErrInvalid wraps every error about a value that cannot be marshalled.
	ErrInvalid = errors.New("mcs: invalid value")
	// ErrUnsupported reports an MCS PDU of a type this package does not decode; ReadPDU still
	// returns its type so that a proxy can relay it.
	ErrUnsupported = errors.New("mcs: unsupported PDU")
)

const (
	// DataHeaderLen is the length of the X.224 Data TPDU header: LI=2, DT (0xF0), EOT (0x80).
	DataHeaderLen = 3
	// MaxMCSLen is the largest MCS PDU that fits in one TPKT frame with its X.224 header.
	MaxMCSLen = tpkt.MaxPayloadLen - DataHeaderLen

	x224DataLI   = 0x02
	x224DataCode = 0xF0
	x224DataEOT  = 0x80
)

// PDUType is the type of an MCS PDU: the DomainMCSPDU CHOICE index (0 to 42) for domain PDUs,
// the application tag number (101 to 104) for the Connect PDUs.
type PDUType uint8

// MCS PDU types.
const (
	TypePlumbDomainIndication       PDUType = 0
	TypeErectDomainRequest          PDUType = 1
	TypeDisconnectProviderUltimatum PDUType = 8
	TypeRejectMCSPDUUltimatum       PDUType = 9
	TypeAttachUserRequest           PDUType = 10
	TypeAttachUserConfirm           PDUType = 11
	TypeDetachUserRequest           PDUType = 12
	TypeDetachUserIndication        PDUType = 13
	TypeChannelJoinRequest          PDUType = 14
	TypeChannelJoinConfirm          PDUType = 15
	TypeChannelLeaveRequest         PDUType = 16
	TypeSendDataRequest             PDUType = 25
	TypeSendDataIndication          PDUType = 26
	TypeConnectInitial              PDUType = 101
	TypeConnectResponse             PDUType = 102
	TypeConnectAdditional           PDUType = 103
	TypeConnectResult               PDUType = 104

	// domainChoiceCount is the number of DomainMCSPDU alternatives (T.125).
	domainChoiceCount = 43
)

// String returns the T.125 name of the type.
func (t PDUType) String() string {
	switch t {
	case TypePlumbDomainIndication:
		return "PlumbDomainIndication"
	case TypeErectDomainRequest:
		return "ErectDomainRequest"
	case TypeDisconnectProviderUltimatum:
		return "DisconnectProviderUltimatum"
	case TypeRejectMCSPDUUltimatum:
		return "RejectMCSPDUUltimatum"
	case TypeAttachUserRequest:
		return "AttachUserRequest"
	case TypeAttachUserConfirm:
		return "AttachUserConfirm"
	case TypeDetachUserRequest:
		return "DetachUserRequest"
	case TypeDetachUserIndication:
		return "DetachUserIndication"
	case TypeChannelJoinRequest:
		return "ChannelJoinRequest"
	case TypeChannelJoinConfirm:
		return "ChannelJoinConfirm"
	case TypeChannelLeaveRequest:
		return "ChannelLeaveRequest"
	case TypeSendDataRequest:
		return "SendDataRequest"
	case TypeSendDataIndication:
		return "SendDataIndication"
	case TypeConnectInitial:
		return "ConnectInitial"
	case TypeConnectResponse:
		return "ConnectResponse"
	case TypeConnectAdditional:
		return "ConnectAdditional"
	case TypeConnectResult:
		return "ConnectResult"
	}
	if t < domainChoiceCount {
		return fmt.Sprintf("DomainMCSPDU(%d)", uint8(t))
	}
	return fmt.Sprintf("PDUType(%d)", uint8(t))
}

// PDU is a parsed MCS PDU.
type PDU interface {
	// Type returns the PDU type.
	Type() PDUType
	// AppendMCS appends the MCS encoding of the PDU (without X.224 and TPKT headers).
	AppendMCS(dst []byte) ([]byte, error)
	// Marshal returns the PDU as a whole TPKT frame with an X.224 Data TPDU.
	Marshal() ([]byte, error)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// DataPayload checks a whole TPKT frame carrying an X.224 Data TPDU (LI 2, DT, EOT set) and
// returns the TPDU's user data, which aliases frame.
func DataPayload(frame []byte) ([]byte, error) {
	p, err := tpkt.Payload(frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(p) < DataHeaderLen {
		return nil, malformed("X.224 Data TPDU needs %d bytes, have %d", DataHeaderLen, len(p))
	}
	if p[0] != x224DataLI || p[1] != x224DataCode {
		return nil, malformed("X.224 header %02x %02x, want a Data TPDU (02 f0)", p[0], p[1])
	}
	if p[2] != x224DataEOT {
		return nil, malformed("X.224 Data TPDU NR/EOT 0x%02x, want 0x80 (single TPDU)", p[2])
	}
	return p[DataHeaderLen:], nil
}

// AppendDataFrame appends a TPKT frame with an X.224 Data TPDU carrying payload.
func AppendDataFrame(dst, payload []byte) ([]byte, error) {
	if len(payload) > MaxMCSLen {
		return dst, invalid("MCS PDU of %d bytes, at most %d fit in a frame", len(payload), MaxMCSLen)
	}
	n := tpkt.HeaderLen + DataHeaderLen + len(payload)
	dst = append(dst, tpkt.Version, 0, byte(n>>8), byte(n), x224DataLI, x224DataCode, x224DataEOT)
	return append(dst, payload...), nil
}

// frame wraps a PDU's MCS encoding in X.224 and TPKT.
func frame(p PDU) ([]byte, error) {
	mcs, err := p.AppendMCS(make([]byte, 0, 64))
	if err != nil {
		return nil, err
	}
	return AppendDataFrame(make([]byte, 0, tpkt.HeaderLen+DataHeaderLen+len(mcs)), mcs)
}

// ReadPDU parses a whole TPKT frame carrying an X.224 Data TPDU and the MCS PDU in it. It
// returns the PDU type and the parsed PDU: *ConnectInitial, *ConnectResponse,
// *ErectDomainRequest, *DisconnectProviderUltimatum, *AttachUserRequest, *AttachUserConfirm,
// *ChannelJoinRequest, *ChannelJoinConfirm, *SendDataRequest or *SendDataIndication. For
// another MCS PDU it returns the type and an error wrapping ErrUnsupported. Slices in the
// result (user data, Send Data payloads) alias frame.
func ReadPDU(frame []byte) (PDUType, PDU, error) {
	p, err := DataPayload(frame)
	if err != nil {
		return 0, nil, err
	}
	return ParsePDU(p)
}

// ParsePDU parses an MCS PDU (the user data of an X.224 Data TPDU); see ReadPDU.
func ParsePDU(b []byte) (PDUType, PDU, error) {
	if len(b) == 0 {
		return 0, nil, malformed("empty MCS PDU")
	}
	if b[0] != 0x7F {
		return ParseDomainPDU(b)
	}
	tag, err := ber.NewReader(b).PeekTag()
	if err != nil {
		return 0, nil, fmt.Errorf("%w: connect PDU: %w", ErrMalformed, err)
	}
	if tag.Class != ber.ClassApplication || tag.Number < uint32(TypeConnectInitial) || tag.Number > uint32(TypeConnectResult) {
		return 0, nil, malformed("BER tag %s is not an MCS Connect PDU", tag)
	}
	t := PDUType(tag.Number)
	switch t {
	case TypeConnectInitial:
		ci, err := ParseConnectInitial(b)
		if err != nil {
			return t, nil, err
		}
		return t, ci, nil
	case TypeConnectResponse:
		cr, err := ParseConnectResponse(b)
		if err != nil {
			return t, nil, err
		}
		return t, cr, nil
	}
	return t, nil, fmt.Errorf("%w: %s", ErrUnsupported, t)
}
