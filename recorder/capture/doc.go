// Package capture is the on-disk format of session recordings: the PDUs a relay forwards,
// each with its time, direction and framing, in a chain of zstd-compressed chunks, and a JSON
// manifest written when the recording ends. docs/recording-format.md describes the bytes.
//
// A Writer buffers records and hands a finished chunk to a Sink at each Flush (the caller
// flushes at least every few seconds, so that a crash loses little) or when the buffered
// records reach ChunkTarget bytes. Each chunk header carries the SHA-256 of the previous chunk
// (header and body), so chunks cannot be dropped, reordered or altered without a Reader
// noticing. A Reader reads chunks back, checks every header, body and link, and names the
// first bad chunk by its sequence number (a *ChunkError).
//
// Recordings hold everything the user saw and typed, passwords too: nothing of them belongs
// in application logs.
package capture
