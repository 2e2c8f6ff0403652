package artifact

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
	"time"
)

// Writer encrypts a stream into an artifact. Only Close writes the final
// chunk, so an artifact whose Writer was never closed (the dump failed, the
// process died) stays truncated and no reader accepts it. Call Abort, not
// Close, when the plaintext is incomplete.
type Writer struct {
	w         io.Writer
	aead      cipher.AEAD
	chunkSize int
	// buf holds the current chunk's plaintext, then its ciphertext and tag.
	buf   []byte
	index uint64
	nonce [12]byte
	aad   [macLen + 9]byte
	// err is the first write failure; every later call returns it.
	err   error
	state writerState
}

type writerState int

const (
	open writerState = iota
	committed
	aborted
)

// NewWriter writes h's header to w and returns a Writer for the plaintext.
// dataKey is the plaintext data key Vault gave with h.WrappedKey; NewWriter
// keeps no copy of it, and the caller should clear it once NewWriter
// returns. h.ChunkSize and h.Created get their defaults when zero.
func NewWriter(w io.Writer, h Header, dataKey []byte) (*Writer, error) {
	if len(dataKey) != KeySize {
		return nil, ErrKeySize
	}
	if h.ChunkSize == 0 {
		h.ChunkSize = DefaultChunkSize
	}
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("drawing the salt: %w", err)
	}
	check, err := keyCheck(dataKey)
	if err != nil {
		return nil, err
	}
	defer clear(check)
	k, err := deriveKeys(dataKey, salt)
	if err != nil {
		return nil, err
	}
	defer k.zero()
	raw := h.marshal(salt, check, k.header)
	aead, err := newAEAD(k.payload)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(raw); err != nil {
		return nil, fmt.Errorf("writing the backup artifact header: %w", err)
	}
	aw := &Writer{w: w, aead: aead, chunkSize: h.ChunkSize, buf: make([]byte, 0, h.ChunkSize+TagSize)}
	copy(aw.aad[:macLen], raw[len(raw)-macLen:])
	return aw, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("creating the cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("creating the cipher: %w", err)
	}
	return aead, nil
}

// Write encrypts p. A full chunk is sealed only when more plaintext
// follows, so that Close can mark the last chunk final. After an error, every
// call returns it.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.state != open {
		return 0, ErrClosed
	}
	n := 0
	for len(p) > 0 {
		if len(w.buf) == w.chunkSize {
			if err := w.seal(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):w.chunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
	}
	return n, nil
}

// ReadFrom encrypts what it reads from r, up to io.EOF, reading straight
// into the chunk buffer: it spares the copy that Write makes, and io.Copy
// to a Writer uses it. It returns the plaintext bytes read. An error of r
// is returned as is and leaves the Writer open; as after a short source
// for Write, the caller then calls Abort, since the plaintext is
// incomplete.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.state != open {
		return 0, ErrClosed
	}
	var total int64
	for {
		// Reads may run up to TagSize bytes past a full chunk, into the
		// room its tag takes once sealed: that is how a full chunk learns
		// that more plaintext follows, and so that it is not the last.
		n, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		total += int64(n)
		if len(w.buf) > w.chunkSize {
			var next [TagSize]byte
			k := copy(next[:], w.buf[w.chunkSize:])
			w.buf = w.buf[:w.chunkSize]
			if err := w.seal(false); err != nil {
				clear(next[:])
				return total, err
			}
			w.buf = append(w.buf, next[:k]...)
			clear(next[:])
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (w *Writer) seal(final bool) error {
	chunkParams(&w.nonce, &w.aad, w.index, final)
	out := w.aead.Seal(w.buf[:0], w.nonce[:], w.buf, w.aad[:])
	if _, err := w.w.Write(out); err != nil {
		w.err = fmt.Errorf("writing backup artifact chunk %d: %w", w.index, err)
		return w.err
	}
	w.index++
	w.buf = w.buf[:0]
	return nil
}

// Close writes the final chunk, which commits the artifact, and forgets the
// key. It does not close the underlying writer. After a failed Write it
// writes nothing and returns that failure; after Abort it returns ErrClosed.
func (w *Writer) Close() error {
	defer w.forget()
	switch {
	case w.state == committed:
		return nil
	case w.state == aborted:
		return ErrClosed
	case w.err != nil:
		return w.err
	}
	if err := w.seal(true); err != nil {
		return err
	}
	w.state = committed
	return nil
}

// Abort forgets the key and the buffered plaintext without writing the
// final chunk, so what was written stays a truncated artifact that no reader
// accepts. It is safe to defer, and does nothing after Close.
func (w *Writer) Abort() {
	if w.state == open {
		w.state = aborted
	}
	w.forget()
}

// forget clears the plaintext buffer and drops the cipher. The derived key
// bytes were cleared when the cipher was made; the AES key schedule inside
// crypto/aes cannot be cleared from outside, and goes with the cipher.
func (w *Writer) forget() {
	clear(w.buf[:cap(w.buf)])
	w.buf = w.buf[:0]
	w.aead = nil
}
