package pdu

import (
	"fmt"
	"slices"
)

// DemandActive is the Server Demand Active PDU, TS_DEMAND_ACTIVE_PDU (MS-RDPBCGR 2.2.1.13.1).
type DemandActive struct {
	// Control is the Share Control Header; Marshal recomputes TotalLength.
	Control          ShareControlHeader
	ShareID          uint32
	SourceDescriptor []byte
	// Pad is pad2Octets after numberCapabilities, kept as sent.
	Pad          uint16
	Capabilities CapabilitySets
	// SessionID is present when HasSessionID; old servers end the PDU after the capabilities.
	SessionID    uint32
	HasSessionID bool
	// Trailing holds bytes after sessionId (or fewer than 4 bytes where it would be).
	Trailing []byte
}

// ConfirmActive is the Client Confirm Active PDU, TS_CONFIRM_ACTIVE_PDU (MS-RDPBCGR 2.2.1.13.2).
type ConfirmActive struct {
	// Control is the Share Control Header; Marshal recomputes TotalLength.
	Control          ShareControlHeader
	ShareID          uint32
	OriginatorID     uint16
	SourceDescriptor []byte
	// Pad is pad2Octets after numberCapabilities, kept as sent.
	Pad          uint16
	Capabilities CapabilitySets
	// Trailing holds bytes after the capability sets, kept byte for byte.
	Trailing []byte
}

// activeCommon is what Demand Active and Confirm Active share after their first fields.
type activeCommon struct {
	source []byte
	pad    uint16
	caps   CapabilitySets
}

// parseActive checks the Share Control Header of b (the whole PDU, nothing after it) and
// returns it with a reader positioned after it.
func parseActiveHeader(b []byte, typ uint8, name string) (ShareControlHeader, *reader, error) {
	h, body, rest, err := ParseShareControlHeader(b)
	if err != nil {
		return h, nil, fmt.Errorf("%s: %w", name, err)
	}
	if h.Type() != typ {
		return h, nil, malformed("%s: share control PDU type %d (%s)", name, h.Type(), PDUTypeName(h.Type()))
	}
	if len(rest) != 0 {
		return h, nil, malformed("%s: %d bytes after totalLength", name, len(rest))
	}
	return h, &reader{b: body}, nil
}

// readCommon reads lengthSourceDescriptor and lengthCombinedCapabilities (both already read
// into the arguments), the source descriptor and the combined capabilities.
func readCommon(r *reader, lenSource, lenCombined int, name string) (activeCommon, error) {
	var c activeCommon
	c.source = clone(r.take(lenSource, "sourceDescriptor"))
	combined := r.take(lenCombined, "combined capabilities")
	if r.err != nil {
		return c, fmt.Errorf("%s: %w", name, r.err)
	}
	if len(combined) < 4 {
		return c, malformed("%s: lengthCombinedCapabilities %d cannot hold numberCapabilities", name, len(combined))
	}
	cr := reader{b: combined}
	n := int(cr.u16("numberCapabilities"))
	c.pad = cr.u16("pad2Octets")
	caps, err := parseCapabilitySets(cr.rest(), n)
	if err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	c.caps = caps
	return c, nil
}

// ParseDemandActive parses a Demand Active PDU: the user data of the MCS Send Data Indication,
// starting with the Share Control Header (no security header, as with TLS or CredSSP).
func ParseDemandActive(b []byte) (*DemandActive, error) {
	const name = "demand active"
	h, r, err := parseActiveHeader(b, PDUTypeDemandActive, name)
	if err != nil {
		return nil, err
	}
	d := &DemandActive{Control: h, ShareID: r.u32("shareId")}
	lenSource := int(r.u16("lengthSourceDescriptor"))
	lenCombined := int(r.u16("lengthCombinedCapabilities"))
	if r.err != nil {
		return nil, fmt.Errorf("%s: %w", name, r.err)
	}
	c, err := readCommon(r, lenSource, lenCombined, name)
	if err != nil {
		return nil, err
	}
	d.SourceDescriptor, d.Pad, d.Capabilities = c.source, c.pad, c.caps
	if r.left() >= 4 {
		d.SessionID, d.HasSessionID = r.u32("sessionId"), true
	}
	d.Trailing = clone(r.rest())
	return d, nil
}

// ParseConfirmActive parses a Confirm Active PDU: the user data of the MCS Send Data Request,
// starting with the Share Control Header.
func ParseConfirmActive(b []byte) (*ConfirmActive, error) {
	const name = "confirm active"
	h, r, err := parseActiveHeader(b, PDUTypeConfirmActive, name)
	if err != nil {
		return nil, err
	}
	ca := &ConfirmActive{Control: h, ShareID: r.u32("shareId"), OriginatorID: r.u16("originatorId")}
	lenSource := int(r.u16("lengthSourceDescriptor"))
	lenCombined := int(r.u16("lengthCombinedCapabilities"))
	if r.err != nil {
		return nil, fmt.Errorf("%s: %w", name, r.err)
	}
	c, err := readCommon(r, lenSource, lenCombined, name)
	if err != nil {
		return nil, err
	}
	ca.SourceDescriptor, ca.Pad, ca.Capabilities = c.source, c.pad, c.caps
	ca.Trailing = clone(r.rest())
	return ca, nil
}

// appendCommon appends lengthSourceDescriptor, lengthCombinedCapabilities, the source
// descriptor, numberCapabilities, pad2Octets and the sets.
func appendCommon(dst []byte, source []byte, pad uint16, caps CapabilitySets, name string) ([]byte, error) {
	if len(source) > 0xFFFF {
		return nil, invalid("%s: source descriptor of %d bytes", name, len(source))
	}
	if len(caps) > 0xFFFF {
		return nil, invalid("%s: %d capability sets", name, len(caps))
	}
	n, err := caps.size()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if n+4 > 0xFFFF {
		return nil, invalid("%s: combined capabilities of %d bytes", name, n+4)
	}
	dst = le16(dst, uint16(len(source)))
	dst = le16(dst, uint16(n+4))
	dst = append(dst, source...)
	dst = le16(dst, uint16(len(caps)))
	dst = le16(dst, pad)
	return caps.append(dst), nil
}

// Marshal returns the PDU, recomputing totalLength, lengthSourceDescriptor,
// lengthCombinedCapabilities, numberCapabilities and every lengthCapability.
func (d *DemandActive) Marshal() ([]byte, error) {
	const name = "demand active"
	if d == nil {
		return nil, invalid("nil DemandActive")
	}
	if !d.HasSessionID && len(d.Trailing) >= 4 {
		return nil, invalid("%s: %d trailing bytes without sessionId would read as one", name, len(d.Trailing))
	}
	body := le32(nil, d.ShareID)
	body, err := appendCommon(body, d.SourceDescriptor, d.Pad, d.Capabilities, name)
	if err != nil {
		return nil, err
	}
	if d.HasSessionID {
		body = le32(body, d.SessionID)
	}
	body = append(body, d.Trailing...)
	return finishControl(d.Control, PDUTypeDemandActive, body, name)
}

// Marshal returns the PDU, recomputing totalLength, lengthSourceDescriptor,
// lengthCombinedCapabilities, numberCapabilities and every lengthCapability.
func (c *ConfirmActive) Marshal() ([]byte, error) {
	const name = "confirm active"
	if c == nil {
		return nil, invalid("nil ConfirmActive")
	}
	body := le32(nil, c.ShareID)
	body = le16(body, c.OriginatorID)
	body, err := appendCommon(body, c.SourceDescriptor, c.Pad, c.Capabilities, name)
	if err != nil {
		return nil, err
	}
	return finishControl(c.Control, PDUTypeConfirmActive, append(body, c.Trailing...), name)
}

func finishControl(h ShareControlHeader, typ uint8, body []byte, name string) ([]byte, error) {
	if h.Type() != typ {
		return nil, invalid("%s: share control PDU type %d, want %d", name, h.Type(), typ)
	}
	out := make([]byte, 0, h.Len()+len(body))
	out, err := h.Append(out, len(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return append(out, body...), nil
}

// RestrictForRecording applies CapabilitySets.RestrictForRecording to the client's sets.
func (c *ConfirmActive) RestrictForRecording() (RecordingChanges, error) {
	return c.Capabilities.RestrictForRecording()
}

// DeactivateAll is the Deactivate All PDU, TS_DEACTIVATE_ALL_PDU (MS-RDPBCGR 2.2.3.1).
type DeactivateAll struct {
	Control ShareControlHeader
	// Empty marks a PDU without shareId and source descriptor (Windows XP sends a bare Share
	// Control Header).
	Empty            bool
	ShareID          uint32
	SourceDescriptor []byte
	Trailing         []byte
}

// ParseDeactivateAll parses a Deactivate All PDU starting with its Share Control Header.
func ParseDeactivateAll(b []byte) (*DeactivateAll, error) {
	const name = "deactivate all"
	h, r, err := parseActiveHeader(b, PDUTypeDeactivateAll, name)
	if err != nil {
		return nil, err
	}
	d := &DeactivateAll{Control: h}
	if r.left() == 0 {
		d.Empty = true
		return d, nil
	}
	d.ShareID = r.u32("shareId")
	n := int(r.u16("lengthSourceDescriptor"))
	d.SourceDescriptor = clone(r.take(n, "sourceDescriptor"))
	if r.err != nil {
		return nil, fmt.Errorf("%s: %w", name, r.err)
	}
	d.Trailing = clone(r.rest())
	return d, nil
}

// Marshal returns the PDU, recomputing its lengths.
func (d *DeactivateAll) Marshal() ([]byte, error) {
	const name = "deactivate all"
	if d == nil {
		return nil, invalid("nil DeactivateAll")
	}
	var body []byte
	if d.Empty {
		if d.ShareID != 0 || len(d.SourceDescriptor) > 0 || len(d.Trailing) > 0 {
			return nil, invalid("%s: empty PDU with fields set", name)
		}
	} else {
		if len(d.SourceDescriptor) > 0xFFFF {
			return nil, invalid("%s: source descriptor of %d bytes", name, len(d.SourceDescriptor))
		}
		body = le32(body, d.ShareID)
		body = le16(body, uint16(len(d.SourceDescriptor)))
		body = append(body, d.SourceDescriptor...)
		body = append(body, d.Trailing...)
	}
	return finishControl(d.Control, PDUTypeDeactivateAll, slices.Clip(body), name)
}
