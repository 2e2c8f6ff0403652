package artifact

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
)

// Reader decrypts an artifact's chunks. It returns a chunk's plaintext only
// after the chunk is authenticated, but whether the artifact is whole is
// known only at its end: a Reader of a damaged artifact may already have
// returned plaintext from the chunks before the damage. Whoever consumes it
// must treat everything read as void unless reading ended in io.EOF (a
// restore goes into a scratch database that is dropped on error).
type Reader struct {
	r         io.Reader
	aead      cipher.AEAD
	chunkSize int
	// ct holds the current chunk's ciphertext and tag, then one byte of the
	// next chunk read ahead to learn whether this one is the last.
	ct []byte
	// ahead says ct[0] holds that byte, carried over from the last chunk.
	ahead bool
	// pt holds the current chunk's plaintext; plain is what is left of it.
	pt, plain []byte
	index     uint64
	final     bool
	nonce     [12]byte
	aad       [macLen + 9]byte
	// err is io.EOF after the final chunk, or the first failure.
	err error
}

// initialBuf is the buffer a Reader starts with. It grows only as bytes
// arrive, so a header that claims a large chunk size costs memory only when
// the artifact really holds chunks that large.
const initialBuf = 64 << 10

// NewReader proves h, which ReadHeader returned, with dataKey, and returns a
// Reader of the plaintext that follows it in r. It fails with ErrWrongKey if
// dataKey is not the artifact's, and with ErrHeaderTampered if it is but the
// header was changed. It keeps no copy of dataKey, and decrypts with the
// values in the header's bytes, not the fields of h.
func NewReader(r io.Reader, h Header, dataKey []byte) (*Reader, error) {
	if len(dataKey) != KeySize {
		return nil, ErrKeySize
	}
	if h.raw == nil {
		return nil, errors.New("backup artifact header was not read with ReadHeader")
	}
	authentic, err := parseHeader(h.raw)
	if err != nil {
		return nil, err
	}
	k, err := verify(h.raw, dataKey)
	if err != nil {
		return nil, err
	}
	defer k.zero()
	aead, err := newAEAD(k.payload)
	if err != nil {
		return nil, err
	}
	rd := &Reader{r: r, aead: aead, chunkSize: authentic.ChunkSize}
	copy(rd.aad[:macLen], h.raw[len(h.raw)-macLen:])
	return rd, nil
}

// Read reads authenticated plaintext. It returns io.EOF only after the
// final chunk, and a *ChunkError, ErrIntegrity-matching, for a damaged
// artifact.
func (r *Reader) Read(p []byte) (int, error) {
	if err := r.ready(); err != nil {
		return 0, err
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// WriteTo writes the rest of the plaintext to w, without the copy Read
// makes; io.Copy uses it.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.ready(); err == io.EOF {
			return total, nil
		} else if err != nil {
			return total, err
		}
		n, err := w.Write(r.plain)
		total += int64(n)
		r.plain = r.plain[n:]
		if err != nil {
			return total, err
		}
	}
}

// ready makes plain non-empty, or returns why it cannot.
func (r *Reader) ready() error {
	for len(r.plain) == 0 {
		switch {
		case r.err != nil:
			return r.err
		case r.final:
			r.err = io.EOF
			r.forget()
		default:
			if err := r.next(); err != nil {
				r.err = err
				r.forget()
			}
		}
	}
	return nil
}

// next reads, authenticates and decrypts one chunk into plain.
func (r *Reader) next() error {
	full := r.chunkSize + TagSize
	n := 0
	if r.ahead {
		n = 1 // ct[0] already holds the chunk's first byte
	}
	n, err := r.fill(n, full+1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("reading backup artifact chunk %d: %w", r.index, err)
	}
	final := n <= full
	size := min(n, full)
	chunk := r.ct[:size]
	if size < TagSize {
		return &ChunkError{Index: r.index, Err: ErrTruncated}
	}
	if cap(r.pt) < size-TagSize {
		r.pt = make([]byte, 0, size-TagSize)
	}
	chunkParams(&r.nonce, &r.aad, r.index, final)
	// Decrypting out of place keeps the ciphertext, to tell a truncated or
	// extended artifact from a tampered one.
	plain, err := r.aead.Open(r.pt[:0], r.nonce[:], chunk, r.aad[:])
	if err != nil {
		cause := ErrChunkTampered
		if size == full {
			chunkParams(&r.nonce, &r.aad, r.index, !final)
			if _, err := r.aead.Open(r.pt[:0], r.nonce[:], chunk, r.aad[:]); err == nil {
				// A whole chunk that is authentic as the other kind: a
				// non-final chunk at the end, or a final one followed by more.
				cause = ErrTrailingData
				if final {
					cause = ErrTruncated
				}
			}
		}
		return &ChunkError{Index: r.index, Err: cause}
	}
	if final && len(plain) == 0 && r.index > 0 {
		return &ChunkError{Index: r.index, Err: errEmptyFinal}
	}
	r.plain, r.final = plain, final
	r.ahead = !final
	if r.ahead {
		r.ct[0] = r.ct[full]
	}
	r.index++
	return nil
}

// fill reads into ct from n until it holds want bytes or r ends (io.EOF),
// growing ct only as bytes arrive.
func (r *Reader) fill(n, want int) (int, error) {
	idle := 0
	for n < want {
		if n == len(r.ct) {
			grown := make([]byte, min(max(2*len(r.ct), initialBuf), want))
			copy(grown, r.ct[:n])
			clear(r.ct)
			r.ct = grown
		}
		m, err := r.r.Read(r.ct[n:min(len(r.ct), want)])
		n += m
		if err != nil {
			return n, err
		}
		if m > 0 {
			idle = 0
		} else if idle++; idle >= 100 {
			return n, io.ErrNoProgress
		}
	}
	return n, nil
}

// forget clears the buffers and drops the cipher once the stream is done.
func (r *Reader) forget() {
	clear(r.ct)
	clear(r.pt[:cap(r.pt)])
	r.ct, r.pt, r.plain = nil, nil, nil
	r.aead = nil
}
