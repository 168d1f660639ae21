// Package replaytest builds recordings for tests and benchmarks: the records a proxy would
// capture from a session whose target sends decodable graphics. Every PDU is encoded with the
// project's own rdp packages, as a real target or client would send it.
package replaytest

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/bitmap"
	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/input"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
)

// IOChannel is the I/O channel the records use, as Windows and xrdp announce it.
const IOChannel = 1003

// Codec is how a bitmap is encoded.
type Codec int

const (
	// Uncompressed sends raw pixels.
	Uncompressed Codec = iota
	// Interleaved sends Interleaved RLE (below 32 bpp).
	Interleaved
	// Planar sends RDP 6.0 planar (32 bpp).
	Planar
)

// Session builds the records of one session, at a clock the caller advances.
type Session struct {
	// Now is the time of the next record.
	Now time.Time
	// Records are the records built so far.
	Records []capture.Record
}

// New returns a Session whose first record is at start.
func New(start time.Time) *Session { return &Session{Now: start} }

// Advance moves the clock.
func (s *Session) Advance(d time.Duration) { s.Now = s.Now.Add(d) }

func (s *Session) add(dir capture.Direction, kind capture.Kind, b []byte) {
	s.Records = append(s.Records, capture.Record{Time: s.Now, Direction: dir, Kind: kind, PDU: b})
}

// Next returns a function that yields the records one by one and io.EOF after the last, as
// capture.Reader.Next does.
func (s *Session) Next() func() (capture.Record, error) {
	i := 0
	return func() (capture.Record, error) {
		if i == len(s.Records) {
			return capture.Record{}, io.EOF
		}
		i++
		return s.Records[i-1], nil
	}
}

// indication wraps share PDUs in an MCS Send Data Indication on the I/O channel.
func indication(sharePDU []byte) ([]byte, error) {
	p := &mcs.SendDataIndication{SendData: mcs.SendData{Initiator: 1002, ChannelID: IOChannel, Segmentation: mcs.SegmentationBegin | mcs.SegmentationEnd, Data: sharePDU}}
	return p.Marshal()
}

// DemandActive adds the target's Demand Active announcing a desktop of w×h at bpp.
func (s *Session) DemandActive(w, h, bpp int) error {
	bc := &pdu.BitmapCapability{PreferredBitsPerPixel: uint16(bpp), Receive1BitPerPixel: 1, Receive4BitsPerPixel: 1,
		Receive8BitsPerPixel: 1, DesktopWidth: uint16(w), DesktopHeight: uint16(h), DesktopResizeFlag: 1,
		BitmapCompressionFlag: 1, MultipleRectangleSupport: 1}
	d := &pdu.DemandActive{
		Control:          pdu.ShareControlHeader{PDUType: pdu.ProtocolVersion | uint16(pdu.PDUTypeDemandActive), PDUSource: 1002},
		ShareID:          0x103EA,
		SourceDescriptor: []byte("RDP\x00"),
		Capabilities:     pdu.CapabilitySets{bc.Capability()},
		HasSessionID:     true,
	}
	b, err := d.Marshal()
	if err != nil {
		return fmt.Errorf("demand active: %w", err)
	}
	if b, err = indication(b); err != nil {
		return fmt.Errorf("demand active: %w", err)
	}
	s.add(capture.TargetToClient, capture.KindTPKT, b)
	return nil
}

// Rect encodes img as one bitmap rectangle at (x, y).
func Rect(img image.Image, x, y, bpp int, codec Codec) (bitmap.Rectangle, error) {
	var data []byte
	var err error
	var flags uint16
	switch codec {
	case Uncompressed:
		data, err = bitmap.EncodeUncompressed(img, bpp)
	case Interleaved:
		data, err = bitmap.EncodeInterleaved(img, bpp)
		flags = bitmap.FlagCompression | bitmap.FlagNoCompressionHeader
	case Planar:
		data, err = bitmap.EncodePlanar(img, bitmap.PlanarOptions{RLE: true})
		flags = bitmap.FlagCompression | bitmap.FlagNoCompressionHeader
	default:
		err = fmt.Errorf("codec %d", codec)
	}
	if err != nil {
		return bitmap.Rectangle{}, fmt.Errorf("encode bitmap: %w", err)
	}
	b := img.Bounds()
	return bitmap.Rectangle{
		DestLeft: uint16(x), DestTop: uint16(y), DestRight: uint16(x + b.Dx() - 1), DestBottom: uint16(y + b.Dy() - 1),
		Width: uint16(b.Dx()), Height: uint16(b.Dy()), BitsPerPixel: uint16(bpp), Flags: flags, Data: data,
	}, nil
}

// FastPathBitmap adds a fast-path bitmap update of rects, fragmented when larger than a
// fast-path PDU can carry.
func (s *Session) FastPathBitmap(rects ...bitmap.Rectangle) error {
	data, err := bitmap.AppendBitmapUpdate(nil, rects)
	if err != nil {
		return fmt.Errorf("bitmap update: %w", err)
	}
	return s.fastPathUpdate(fastpath.UpdateBitmap, data)
}

// fastPathUpdate adds one update, fragmented in pieces of at most 16 KiB.
func (s *Session) fastPathUpdate(code uint8, data []byte) error {
	const piece = 16 << 10
	for off := 0; off < len(data) || off == 0; off += piece {
		end := min(off+piece, len(data))
		frag := fastpath.FragmentSingle
		switch {
		case off == 0 && end < len(data):
			frag = fastpath.FragmentFirst
		case off > 0 && end < len(data):
			frag = fastpath.FragmentNext
		case off > 0:
			frag = fastpath.FragmentLast
		}
		out := &fastpath.OutputPDU{LongLength: true, Updates: []fastpath.Update{{Code: code, Fragmentation: frag, Data: data[off:end]}}}
		b, err := out.Marshal()
		if err != nil {
			return fmt.Errorf("fast-path output: %w", err)
		}
		s.add(capture.TargetToClient, capture.KindFastPath, b)
		if end == len(data) {
			break
		}
	}
	return nil
}

// SlowPathBitmap adds a slow-path Update PDU with a bitmap update of rects.
func (s *Session) SlowPathBitmap(rects ...bitmap.Rectangle) error {
	data, err := bitmap.AppendBitmapUpdate(nil, rects)
	if err != nil {
		return fmt.Errorf("bitmap update: %w", err)
	}
	return s.slowPathData(pdu.PDUType2Update, data)
}

func (s *Session) slowPathData(pduType2 uint8, payload []byte) error {
	p := &pdu.SharePDU{
		Control: pdu.ShareControlHeader{PDUType: pdu.ProtocolVersion | uint16(pdu.PDUTypeData), PDUSource: 1002},
		Data:    &pdu.ShareDataHeader{ShareID: 0x103EA, StreamID: 1, PDUType2: pduType2},
		Payload: payload,
	}
	b, err := p.Append(nil)
	if err != nil {
		return fmt.Errorf("share data PDU: %w", err)
	}
	if b, err = indication(b); err != nil {
		return fmt.Errorf("share data PDU: %w", err)
	}
	s.add(capture.TargetToClient, capture.KindTPKT, b)
	return nil
}

// Palette adds a fast-path palette update.
func (s *Session) Palette(p *[256]color.RGBA) error {
	b := []byte{byte(bitmap.UpdateTypePalette), 0, 0, 0, 0, 1, 0, 0} // updateType, pad, 256 entries
	for _, c := range p {
		b = append(b, c.R, c.G, c.B)
	}
	return s.fastPathUpdate(fastpath.UpdatePalette, b)
}

// PointerHidden adds a fast-path null pointer (hidden) or default pointer (shown) update.
func (s *Session) PointerHidden(hidden bool) error {
	code := fastpath.UpdatePtrDefault
	if hidden {
		code = fastpath.UpdatePtrNull
	}
	out := &fastpath.OutputPDU{Updates: []fastpath.Update{{Code: code}}}
	b, err := out.Marshal()
	if err != nil {
		return fmt.Errorf("fast-path output: %w", err)
	}
	s.add(capture.TargetToClient, capture.KindFastPath, b)
	return nil
}

// MouseMove adds the client's fast-path mouse move to (x, y).
func (s *Session) MouseMove(x, y int) error {
	b, err := input.MarshalFastPath([]input.Event{{Source: input.FastPath, Kind: input.KindMouse,
		PointerFlags: input.PtrFlagsMove, X: uint16(x), Y: uint16(y)}})
	if err != nil {
		return fmt.Errorf("mouse move: %w", err)
	}
	s.add(capture.ClientToTarget, capture.KindFastPath, b)
	return nil
}

// Solid returns a w×h image of one colour.
func Solid(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 0xFF
	}
	return img
}
