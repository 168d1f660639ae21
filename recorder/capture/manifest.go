package capture

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ManifestVersion is the manifest format version.
const ManifestVersion = 1

// MaxManifestSize bounds a manifest's JSON.
const MaxManifestSize = 16 << 20

// Meta is who and what a recording is of. It holds no secrets, only the secret's id.
type Meta struct {
	Session  string `json:"session"`
	User     string `json:"user"`
	SecretID string `json:"secretId,omitempty"`
	Target   string `json:"target"`
	Launcher string `json:"launcher,omitempty"`
	// Cluster is the RDSCluster whose proxy recorded the session: its Secret Server decides
	// who may watch the recording.
	Cluster string    `json:"cluster,omitempty"`
	Start   time.Time `json:"start"`
}

// ManifestChunk is a chunk as a manifest lists it.
type ManifestChunk struct {
	Seq     uint32    `json:"seq"`
	Key     string    `json:"key"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
	Records uint32    `json:"records"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// Gap is a run of chunks that were written but are lost.
type Gap struct {
	FromSeq uint32 `json:"fromSeq"`
	ToSeq   uint32 `json:"toSeq"`
	Reason  string `json:"reason"`
}

// Dropped is a run of PDUs a best-effort recording left out because storage could not keep up
// with the session: from the first to the last PDU dropped, how many and their size.
type Dropped struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Records int64     `json:"records"`
	Bytes   int64     `json:"bytes"`
}

// Manifest ends a recording: what it is of, its chunks, and whether it ended normally.
type Manifest struct {
	Version int `json:"version"`
	Meta
	End time.Time `json:"end"`
	// Complete is true when the recording ended normally (false: the recorder was
	// interrupted, and the chunks end where its last flush did).
	Complete bool            `json:"complete"`
	Chunks   []ManifestChunk `json:"chunks"`
	Gaps     []Gap           `json:"gaps,omitempty"`
	// Dropped lists the PDUs a best-effort recording left out.
	Dropped []Dropped `json:"dropped,omitempty"`
}

// Lossless reports whether the recording holds the whole session: it ended normally, and no
// chunk and no PDU is missing.
func (m *Manifest) Lossless() bool { return m.Complete && len(m.Gaps) == 0 && len(m.Dropped) == 0 }

// ManifestChunkOf describes info for a manifest, stored under key.
func ManifestChunkOf(info ChunkInfo, key string) ManifestChunk {
	return ManifestChunk{
		Seq: info.Seq, Key: key, Size: info.Size, SHA256: hex.EncodeToString(info.SHA256[:]),
		Records: info.Records, First: info.First, Last: info.Last,
	}
}

// Marshal encodes the manifest.
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseManifest decodes a manifest and checks that it is consistent.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("manifest of %d bytes over %d", len(b), MaxManifestSize)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("manifest version %d unsupported", m.Version)
	}
	if m.Session == "" {
		return nil, errors.New("manifest without session")
	}
	for i, c := range m.Chunks {
		if i > 0 && c.Seq <= m.Chunks[i-1].Seq {
			return nil, fmt.Errorf("manifest chunk %d out of order", c.Seq)
		}
		if h, err := hex.DecodeString(c.SHA256); err != nil || len(h) != len(Hash{}) {
			return nil, fmt.Errorf("manifest chunk %d: bad sha256", c.Seq)
		}
	}
	return &m, nil
}
