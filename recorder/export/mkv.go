package export

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// A minimal Matroska muxer for ffmpeg's stdin: one video track of raw I420 frames
// (V_UNCOMPRESSED, ColourSpace "I420"), each frame a SimpleBlock in a cluster of its own that
// carries the frame's time in milliseconds. Unlike `-f rawvideo`, whose frames are evenly
// spaced, this lets a still screen cost nothing: a frame is sent only when the picture
// changed, and ffmpeg holds it until the next one.

// EBML and Matroska element IDs (RFC 8794, RFC 9559), with their length markers.
const (
	idEBML               = 0x1A45DFA3
	idEBMLVersion        = 0x4286
	idEBMLReadVersion    = 0x42F7
	idEBMLMaxIDLength    = 0x42F2
	idEBMLMaxSizeLength  = 0x42F3
	idDocType            = 0x4282
	idDocTypeVersion     = 0x4287
	idDocTypeReadVersion = 0x4285
	idSegment            = 0x18538067
	idInfo               = 0x1549A966
	idTimestampScale     = 0x2AD7B1
	idMuxingApp          = 0x4D80
	idWritingApp         = 0x5741
	idTracks             = 0x1654AE6B
	idTrackEntry         = 0xAE
	idTrackNumber        = 0xD7
	idTrackUID           = 0x73C5
	idTrackType          = 0x83
	idFlagLacing         = 0x9C
	idCodecID            = 0x86
	idDefaultDuration    = 0x23E383
	idVideo              = 0xE0
	idPixelWidth         = 0xB0
	idPixelHeight        = 0xBA
	idColourSpace        = 0x2EB524
	idCluster            = 0x1F43B675
	idTimestamp          = 0xE7
	idSimpleBlock        = 0xA3
)

// unknownSize is the 8-byte EBML size "unknown": the Segment is streamed.
var unknownSize = []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}

func appendID(b []byte, id uint32) []byte {
	switch {
	case id >= 1<<24:
		return append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<16:
		return append(b, byte(id>>16), byte(id>>8), byte(id))
	case id >= 1<<8:
		return append(b, byte(id>>8), byte(id))
	}
	return append(b, byte(id))
}

// appendSize appends n as an 8-byte EBML variable-size integer.
func appendSize(b []byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64(b, n|1<<56)
}

func appendElement(b []byte, id uint32, data []byte) []byte {
	b = appendID(b, id)
	b = appendSize(b, uint64(len(data)))
	return append(b, data...)
}

func appendUint(b []byte, id uint32, v uint64) []byte {
	n := 1
	for n < 8 && v>>(8*n) != 0 {
		n++
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], v)
	return appendElement(b, id, buf[8-n:])
}

func appendString(b []byte, id uint32, s string) []byte { return appendElement(b, id, []byte(s)) }

// mkvWriter writes the stream.
type mkvWriter struct {
	w     io.Writer
	frame int // bytes of one I420 frame
	hdr   []byte
}

// newMKVWriter writes the EBML header, the Segment's start, Info and Tracks for w×h I420
// frames at fps (the track's default frame duration, which the last frame lasts).
func newMKVWriter(w io.Writer, width, height, fps int) (*mkvWriter, error) {
	var ebml []byte
	ebml = appendUint(ebml, idEBMLVersion, 1)
	ebml = appendUint(ebml, idEBMLReadVersion, 1)
	ebml = appendUint(ebml, idEBMLMaxIDLength, 4)
	ebml = appendUint(ebml, idEBMLMaxSizeLength, 8)
	ebml = appendString(ebml, idDocType, "matroska")
	ebml = appendUint(ebml, idDocTypeVersion, 4)
	ebml = appendUint(ebml, idDocTypeReadVersion, 2)

	var info []byte
	info = appendUint(info, idTimestampScale, uint64(time.Millisecond))
	info = appendString(info, idMuxingApp, "sessionconnector")
	info = appendString(info, idWritingApp, "sessionconnector")

	var video []byte
	video = appendUint(video, idPixelWidth, uint64(width))
	video = appendUint(video, idPixelHeight, uint64(height))
	video = appendElement(video, idColourSpace, []byte("I420"))
	var track []byte
	track = appendUint(track, idTrackNumber, 1)
	track = appendUint(track, idTrackUID, 1)
	track = appendUint(track, idTrackType, 1) // video
	track = appendUint(track, idFlagLacing, 0)
	track = appendString(track, idCodecID, "V_UNCOMPRESSED")
	track = appendUint(track, idDefaultDuration, uint64(time.Second)/uint64(fps))
	track = appendElement(track, idVideo, video)

	var out []byte
	out = appendElement(out, idEBML, ebml)
	out = appendID(out, idSegment)
	out = append(out, unknownSize...)
	out = appendElement(out, idInfo, info)
	out = appendElement(out, idTracks, appendElement(nil, idTrackEntry, track))
	if _, err := w.Write(out); err != nil {
		return nil, fmt.Errorf("write stream header: %w", err)
	}
	return &mkvWriter{w: w, frame: i420Size(width, height), hdr: make([]byte, 0, 64)}, nil
}

// writeFrame writes one I420 frame shown from at (rounded to the millisecond) on.
func (m *mkvWriter) writeFrame(frame []byte, at time.Duration) error {
	if len(frame) != m.frame {
		return fmt.Errorf("frame of %d bytes, want %d", len(frame), m.frame)
	}
	ts := appendUint(nil, idTimestamp, uint64((at+time.Millisecond/2)/time.Millisecond))
	const blockHead = 4 // track number 1 as a 1-byte vint, relative timestamp 0, flags: keyframe
	h := m.hdr[:0]
	h = appendID(h, idCluster)
	h = appendSize(h, uint64(len(ts)+1+8+blockHead+len(frame))) // SimpleBlock ID, size, block
	h = append(h, ts...)
	h = appendID(h, idSimpleBlock)
	h = appendSize(h, uint64(blockHead+len(frame)))
	h = append(h, 0x81, 0, 0, 0x80)
	m.hdr = h
	if _, err := m.w.Write(h); err != nil {
		return err
	}
	_, err := m.w.Write(frame)
	return err
}
