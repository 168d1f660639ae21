// Package replay plays a recording back: it feeds the records of a session (recorder/capture)
// through the RDP decoders and keeps the picture the user saw — the desktop as the target drew
// it with bitmap updates (uncompressed, interleaved RLE, planar; rdp/bitmap) and the mouse
// pointer where the client put it.
//
// A Screen takes records in order with Apply and never stops at a bad one: a record it cannot
// decode is counted and reported, and replay goes on with the next. What is decoded:
//
//   - target to client: the Connect Response (the I/O channel), Demand Active (desktop size and
//     colour depth; a new one resizes the screen), slow-path Update PDUs (bitmap, palette) and
//     Pointer PDUs (position, hidden/shown), fast-path output updates (reassembled with
//     fastpath.Defragmenter: bitmap, palette, pointer position, null and default pointer);
//   - client to target: mouse events, slow-path and fast-path, which move the pointer.
//
// Drawing orders, surface commands and bulk-compressed updates cannot be decoded; a recorded
// proxy asks the target not to send them, so they are counted as skipped when they appear.
package replay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"time"

	"github.com/sessionconnector/sessionconnector/rdp/bitmap"
	"github.com/sessionconnector/sessionconnector/rdp/fastpath"
	"github.com/sessionconnector/sessionconnector/rdp/input"
	"github.com/sessionconnector/sessionconnector/rdp/mcs"
	"github.com/sessionconnector/sessionconnector/rdp/pdu"
	"github.com/sessionconnector/sessionconnector/recorder/capture"
)

// MaxDesktopSide bounds the desktop's width and height (the RDP limit): a Demand Active that
// asks for more is refused.
const MaxDesktopSide = 8192

// defaultIOChannel is the I/O channel of every server seen (Windows, xrdp, FreeRDP) until the
// Connect Response says otherwise.
const defaultIOChannel = 1003

// sysPtrNull is the system pointer "hidden" of a Pointer PDU (MS-RDPBCGR 2.2.9.1.1.4.3).
const sysPtrNull = 0x00000000

// Stats counts what a Screen did with the records it was given.
type Stats struct {
	// Records is the number of records applied.
	Records int `json:"records"`
	// Updates is the number of graphics updates drawn (bitmap and palette).
	Updates int `json:"updates"`
	// Rectangles is the number of bitmap rectangles drawn.
	Rectangles int `json:"rectangles"`
	// Resizes is the number of desktop sizes set (Demand Active PDUs).
	Resizes int `json:"resizes"`
	// Skipped is the number of graphics updates that could not be drawn: bulk-compressed,
	// drawing orders, surface commands, or malformed.
	Skipped int `json:"skipped"`
	// FirstSkip says why the first skipped update was skipped.
	FirstSkip string `json:"firstSkip,omitempty"`
}

// Screen keeps the picture of a session as its records draw it. The zero value is not ready:
// use NewScreen. A Screen is not safe for concurrent use.
type Screen struct {
	desktop   *image.RGBA
	palette   *[256]color.RGBA
	ioChannel uint16
	defrag    *fastpath.Defragmenter
	pointer   image.Point
	hidden    bool
	stats     Stats
	maxSide   int // MaxDesktopSide; smaller in the fuzz test
}

// NewScreen returns a Screen with no desktop yet.
func NewScreen() *Screen {
	return &Screen{ioChannel: defaultIOChannel, defrag: fastpath.NewDefragmenter(0), maxSide: MaxDesktopSide}
}

// Size returns the desktop's size, 0×0 before the first Demand Active.
func (s *Screen) Size() (w, h int) {
	if s.desktop == nil {
		return 0, 0
	}
	b := s.desktop.Bounds()
	return b.Dx(), b.Dy()
}

// Desktop returns the desktop as drawn so far, without the pointer, or nil before the first
// Demand Active. It is the Screen's own image: read it, do not keep or change it.
func (s *Screen) Desktop() *image.RGBA { return s.desktop }

// Pointer returns where the mouse pointer is and whether it is shown.
func (s *Screen) Pointer() (pos image.Point, visible bool) { return s.pointer, !s.hidden }

// Stats returns the counts so far.
func (s *Screen) Stats() Stats { return s.stats }

// Render draws the desktop with the pointer on top into dst and returns it; dst is allocated
// anew when nil or of another size. It returns nil before the first Demand Active.
func (s *Screen) Render(dst *image.RGBA) *image.RGBA {
	if s.desktop == nil {
		return nil
	}
	if dst == nil || dst.Bounds() != s.desktop.Bounds() {
		dst = image.NewRGBA(s.desktop.Bounds())
	}
	copy(dst.Pix, s.desktop.Pix)
	if !s.hidden {
		drawPointer(dst, s.pointer)
	}
	return dst
}

// Apply feeds one record. changed tells whether the picture (desktop or pointer) changed. A
// record that cannot be decoded does not stop replay: Apply returns an error that says what
// was skipped, and the next record can be applied. Records that carry no picture (connection
// set-up, virtual channel data, keyboard input) are ignored without error.
func (s *Screen) Apply(r capture.Record) (changed bool, err error) {
	s.stats.Records++
	switch {
	case r.Direction == capture.TargetToClient && r.Kind == capture.KindFastPath:
		return s.fastPathOutput(r.PDU)
	case r.Direction == capture.TargetToClient && r.Kind == capture.KindTPKT:
		return s.slowPathOutput(r.PDU)
	case r.Direction == capture.ClientToTarget && r.Kind == capture.KindFastPath:
		events, err := input.ParseFastPath(r.PDU)
		if err != nil {
			return false, nil // input the target will refuse too; nothing to draw
		}
		return s.mouse(events), nil
	case r.Direction == capture.ClientToTarget && r.Kind == capture.KindTPKT:
		_, p, err := mcs.ReadPDU(r.PDU)
		if err != nil {
			return false, nil
		}
		sdr, ok := p.(*mcs.SendDataRequest)
		if !ok || sdr.ChannelID != s.ioChannel {
			return false, nil
		}
		events, err := input.ParseSlowPathPDU(sdr.Data)
		if err != nil {
			return false, nil // Client Info, Confirm Active, other data PDUs
		}
		return s.mouse(events), nil
	}
	return false, nil
}

func (s *Screen) mouse(events []input.Event) bool {
	changed := false
	for _, e := range events {
		if e.Kind != input.KindMouse && e.Kind != input.KindMouseX {
			continue
		}
		if p := image.Pt(int(e.X), int(e.Y)); p != s.pointer {
			s.pointer, changed = p, true
		}
	}
	return changed && !s.hidden && s.desktop != nil
}

// skip counts an update that could not be drawn.
func (s *Screen) skip(err error) error {
	s.stats.Skipped++
	if s.stats.FirstSkip == "" {
		s.stats.FirstSkip = err.Error()
	}
	return err
}

func (s *Screen) slowPathOutput(frame []byte) (bool, error) {
	_, p, err := mcs.ReadPDU(frame)
	if err != nil {
		return false, nil // X.224 connection confirm and the like
	}
	switch p := p.(type) {
	case *mcs.ConnectResponse:
		if _, sd, err := p.ServerData(); err == nil {
			if n, err := sd.Network(); err == nil && n.MCSChannelID != 0 {
				s.ioChannel = n.MCSChannelID
			}
		}
		return false, nil
	case *mcs.SendDataIndication:
		if p.ChannelID != s.ioChannel {
			return false, nil // virtual channels
		}
		return s.shareData(p.Data)
	}
	return false, nil
}

// shareData handles the Share Control PDUs of one Send Data Indication on the I/O channel.
func (s *Screen) shareData(b []byte) (bool, error) {
	pdus, err := pdu.ParseSharePDUs(b)
	if err != nil {
		return false, nil // licensing PDUs before activation have no share header
	}
	changed := false
	var errs []error
	for _, p := range pdus {
		if p.Control.Type() == pdu.PDUTypeDemandActive {
			c, err := s.demandActive(b)
			changed = changed || c
			if err != nil {
				errs = append(errs, err)
			}
			break // a Demand Active is alone in its PDU
		}
		if p.Data == nil {
			continue
		}
		switch p.Data.PDUType2 {
		case pdu.PDUType2Update, pdu.PDUType2Pointer:
		default:
			continue
		}
		if p.Data.Compressed() {
			errs = append(errs, s.skip(fmt.Errorf("bulk-compressed %s PDU", p.Name())))
			continue
		}
		var c bool
		var err error
		if p.Data.PDUType2 == pdu.PDUType2Update {
			c, err = s.slowPathUpdate(p.Payload)
		} else {
			c, err = s.slowPathPointer(p.Payload)
		}
		changed = changed || c
		if err != nil {
			errs = append(errs, err)
		}
	}
	return changed, errors.Join(errs...)
}

func (s *Screen) demandActive(b []byte) (bool, error) {
	d, err := pdu.ParseDemandActive(b)
	if err != nil {
		return false, s.skip(fmt.Errorf("demand active: %w", err))
	}
	set, ok := d.Capabilities.Get(pdu.CapsTypeBitmap)
	if !ok {
		return false, s.skip(errors.New("demand active without a bitmap capability set"))
	}
	bc, err := pdu.ParseBitmapCapability(set.Data)
	if err != nil {
		return false, s.skip(fmt.Errorf("demand active: %w", err))
	}
	w, h := int(bc.DesktopWidth), int(bc.DesktopHeight)
	if w <= 0 || h <= 0 || w > s.maxSide || h > s.maxSide {
		return false, s.skip(fmt.Errorf("demand active: desktop %dx%d out of range (1 to %d)", w, h, s.maxSide))
	}
	s.stats.Resizes++
	if cw, ch := s.Size(); cw == w && ch == h {
		return false, nil // reactivation at the same size: the server redraws what changed
	}
	s.desktop = image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 3; i < len(s.desktop.Pix); i += 4 {
		s.desktop.Pix[i] = 0xFF // opaque black until drawn
	}
	return true, nil
}

func (s *Screen) slowPathUpdate(b []byte) (bool, error) {
	if len(b) < 2 {
		return false, s.skip(fmt.Errorf("update PDU of %d bytes", len(b)))
	}
	switch t := binary.LittleEndian.Uint16(b); t {
	case pdu.UpdateTypeBitmap:
		return s.bitmapUpdate(b)
	case pdu.UpdateTypePalette:
		return s.paletteUpdate(b)
	case pdu.UpdateTypeSynchronize:
		return false, nil
	case pdu.UpdateTypeOrders:
		return false, s.skip(errors.New("drawing orders update (not decodable)"))
	default:
		return false, s.skip(fmt.Errorf("update type %d", t))
	}
}

func (s *Screen) slowPathPointer(b []byte) (bool, error) {
	if len(b) < 4 {
		return false, s.skip(fmt.Errorf("pointer PDU of %d bytes", len(b)))
	}
	switch binary.LittleEndian.Uint16(b) {
	case pdu.PtrMsgTypePosition:
		if len(b) < 8 {
			return false, s.skip(fmt.Errorf("pointer position PDU of %d bytes", len(b)))
		}
		return s.movePointer(b[4:8]), nil
	case pdu.PtrMsgTypeSystem:
		if len(b) < 8 {
			return false, s.skip(fmt.Errorf("system pointer PDU of %d bytes", len(b)))
		}
		return s.showPointer(binary.LittleEndian.Uint32(b[4:]) != sysPtrNull), nil
	default: // colour, new, cached, large pointer: a shape; the pointer is shown
		return s.showPointer(true), nil
	}
}

func (s *Screen) movePointer(b []byte) bool {
	p := image.Pt(int(binary.LittleEndian.Uint16(b)), int(binary.LittleEndian.Uint16(b[2:])))
	if p == s.pointer {
		return false
	}
	s.pointer = p
	return !s.hidden && s.desktop != nil
}

func (s *Screen) showPointer(show bool) bool {
	if s.hidden != show {
		return false
	}
	s.hidden = !show
	return s.desktop != nil
}

func (s *Screen) fastPathOutput(b []byte) (bool, error) {
	out, err := fastpath.ParseOutput(b)
	if err != nil {
		return false, s.skip(fmt.Errorf("fast-path output: %w", err))
	}
	changed := false
	var errs []error
	for _, u := range out.Updates {
		whole, ok, err := s.defrag.Add(u)
		if err != nil {
			errs = append(errs, s.skip(fmt.Errorf("fast-path %s update: %w", u.Name(), err)))
			continue
		}
		if !ok {
			continue
		}
		c, err := s.fastPathUpdate(whole)
		changed = changed || c
		if err != nil {
			errs = append(errs, err)
		}
	}
	return changed, errors.Join(errs...)
}

func (s *Screen) fastPathUpdate(u fastpath.Update) (bool, error) {
	switch u.Code {
	case fastpath.UpdateBitmap:
		return s.bitmapUpdate(u.Data)
	case fastpath.UpdatePalette:
		return s.paletteUpdate(u.Data)
	case fastpath.UpdateSynchronize:
		return false, nil
	case fastpath.UpdatePtrPosition:
		if len(u.Data) < 4 {
			return false, s.skip(fmt.Errorf("fast-path pointer position of %d bytes", len(u.Data)))
		}
		return s.movePointer(u.Data), nil
	case fastpath.UpdatePtrNull:
		return s.showPointer(false), nil
	case fastpath.UpdatePtrDefault, fastpath.UpdateColor, fastpath.UpdateCached, fastpath.UpdatePointer, fastpath.UpdateLargePointer:
		return s.showPointer(true), nil
	default: // orders, surface commands
		return false, s.skip(fmt.Errorf("fast-path %s update (not decodable)", u.Name()))
	}
}

func (s *Screen) bitmapUpdate(b []byte) (bool, error) {
	rects, err := bitmap.ParseBitmapUpdate(b)
	if err != nil {
		return false, s.skip(err)
	}
	if s.desktop == nil {
		return false, s.skip(errors.New("bitmap update before the desktop size is known"))
	}
	s.stats.Updates++
	opts := bitmap.Options{Palette: s.palette}
	changed := false
	var errs []error
	for _, r := range rects {
		img, err := opts.Decode(r)
		if err != nil {
			errs = append(errs, s.skip(err))
			continue
		}
		dest := r.Dest().Intersect(s.desktop.Bounds())
		if dest.Empty() {
			continue
		}
		draw.Draw(s.desktop, dest, img, img.Bounds().Min, draw.Src)
		s.stats.Rectangles++
		changed = true
	}
	return changed, errors.Join(errs...)
}

func (s *Screen) paletteUpdate(b []byte) (bool, error) {
	p, err := bitmap.ParsePaletteUpdate(b)
	if err != nil {
		return false, s.skip(err)
	}
	s.palette = p
	s.stats.Updates++
	return false, nil
}

// Frame is one picture of a recording at a moment.
type Frame struct {
	// At is the moment, from the recording's first record.
	At time.Duration
	// Image is the picture. It is reused for the next frame: copy it to keep it.
	Image *image.RGBA
	// Changed tells whether the picture differs from the previous frame's (always true for
	// the first frame).
	Changed bool
}

// Frames replays records from next (which returns io.EOF after the last, as
// capture.Reader.Next does) and calls emit once every `every` of recording time, from the
// first moment the desktop has a size to the last record, and once more at the next tick when
// the last records changed the picture after the last tick; the picture at a moment shows
// every record up to it. An error from next or emit ends the walk; records that cannot be decoded
// do not (they are counted in Stats).
func Frames(next func() (capture.Record, error), every time.Duration, emit func(Frame) error) (Stats, error) {
	if every <= 0 {
		return Stats{}, errors.New("replay: frame interval must be positive")
	}
	s := NewScreen()
	var (
		start   time.Time
		last    time.Duration
		tick    time.Duration
		ticking bool
		dirty   = true
		img     *image.RGBA
	)
	emitUpTo := func(until time.Duration, inclusive bool) error {
		for ticking && (tick < until || inclusive && tick == until) {
			if dirty {
				img = s.Render(img)
			}
			if err := emit(Frame{At: tick, Image: img, Changed: dirty}); err != nil {
				return err
			}
			dirty = false
			tick += every
		}
		return nil
	}
	for {
		r, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s.Stats(), fmt.Errorf("replay: %w", err)
		}
		if start.IsZero() {
			start = r.Time
		}
		at := max(r.Time.Sub(start), last) // records are in order; never step back
		last = at
		if err := emitUpTo(at, false); err != nil {
			return s.Stats(), err
		}
		changed, _ := s.Apply(r)
		dirty = dirty || changed
		if !ticking && s.desktop != nil {
			ticking = true
			tick = (at + every - 1) / every * every
		}
	}
	if err := emitUpTo(last, true); err != nil {
		return s.Stats(), err
	}
	// What the last records drew after the last tick is shown by one more frame, at the next
	// tick; a recording too short for any tick still gets one frame.
	if ticking && dirty { // dirty until the first frame, so a short recording gets one
		if err := emitUpTo(tick, true); err != nil {
			return s.Stats(), err
		}
	}
	return s.Stats(), nil
}
