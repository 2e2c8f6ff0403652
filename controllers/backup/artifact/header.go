// Package artifact reads and writes encrypted backup artifacts: a
// versioned, streaming envelope of chunked AES-256-GCM under a fresh data key
// per artifact, whose Vault-wrapped copy travels in the artifact's header.
// docs/backup-format.md specifies the bytes; this package is one
// implementation of it.
//
// The design follows age's payload (a STREAM construction): keys are derived
// with HKDF-SHA-256 from the data key and a per-artifact random salt, the
// header carries a key check and an HMAC, and each chunk's nonce and
// additional data bind its index and whether it is the last. A reader
// therefore refuses, with a typed error, any artifact that is truncated
// (even at a chunk boundary), extended, reordered, duplicated or spliced
// from another artifact, and tells a wrong key apart from a changed header.
//
// The package does no I/O of its own and never puts key material, wrapped
// keys or plaintext in an error.
package artifact

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"
)

// Format constants. docs/backup-format.md is their specification.
const (
	// FormatVersion is the only version this package writes and reads.
	FormatVersion = 1
	// KeySize is the size of a data key: AES-256.
	KeySize = 32
	// TagSize is the GCM tag that every chunk adds to its plaintext.
	TagSize = 16

	// DefaultChunkSize is the plaintext size of every chunk but the last.
	DefaultChunkSize = 1 << 20
	// MinChunkSize and MaxChunkSize bound a chunk's plaintext size. The
	// maximum is what a hostile header can make a reader hold in memory.
	MinChunkSize = 1 << 10
	MaxChunkSize = 16 << 20

	// MaxTransitKeyLen bounds the transit key name.
	MaxTransitKeyLen = 256
	// MaxWrappedKeyLen bounds the wrapped key (Vault's is about 90 bytes).
	MaxWrappedKeyLen = 1024
	// MaxMetadataLen bounds the metadata JSON.
	MaxMetadataLen = 32 << 10
	// MaxHeaderLen bounds the whole header, so reading one costs at most this.
	MaxHeaderLen = 64 << 10
)

// magic opens every artifact. The high first byte and the CR LF SUB
// sequence, as in PNG, catch a file mangled by a text-mode transfer.
var magic = [8]byte{0x89, 'S', 'W', 'B', 'K', '\r', '\n', 0x1a}

// Header layout: the offsets of the fixed fields, then the variable part.
const (
	offVersion    = 8
	offHeaderLen  = 10
	prefixLen     = 14 // magic, version, header length
	offChunkSize  = 14
	offCreated    = 18
	offKeyVersion = 26
	offSalt       = 30
	offKeyCheck   = 62
	fixedLen      = 94
	saltLen       = 32
	keyCheckLen   = 32
	macLen        = 32
	// minHeaderLen is a header with every variable field empty.
	minHeaderLen = fixedLen + 2 + 2 + 4 + macLen
)

// HKDF info strings: each derived key has its own.
const (
	infoPayload  = "switchboard-backup v1 payload key"
	infoHeader   = "switchboard-backup v1 header key"
	infoKeyCheck = "switchboard-backup v1 key check"
)

// Header is an artifact's cleartext header. Everything in it is readable
// without the data key, and authenticated by it: ReadHeader returns the
// fields as found, and NewReader refuses the artifact unless the key proves
// them unchanged.
type Header struct {
	// TransitKey is the Vault transit key that wrapped the data key.
	TransitKey string
	// KeyVersion is the version of TransitKey that wrapped it; it equals
	// the N of WrappedKey's "vault:vN:" prefix.
	KeyVersion int
	// WrappedKey is Vault's ciphertext of the data key, "vault:vN:<base64>".
	// Only Vault, with TransitKey, can unwrap it.
	WrappedKey string
	// ChunkSize is the plaintext size of every chunk but the last; zero
	// means DefaultChunkSize.
	ChunkSize int
	// Created is when the backup was taken, kept to the second, in UTC;
	// zero means now.
	Created time.Time
	// Metadata is optional JSON about the backup, such as the workspace UID
	// and per-table row counts. It is authenticated but NOT encrypted: no
	// secret and no personal data.
	Metadata json.RawMessage

	// raw is the header's bytes, set by ReadHeader; NewReader verifies them
	// and decrypts with the values they hold, not the fields above.
	raw []byte
}

// Len is the header's size in bytes once written.
func (h Header) Len() int {
	return minHeaderLen + len(h.TransitKey) + len(h.WrappedKey) + len(h.Metadata)
}

// EncryptedSize is the size of an artifact of h holding plaintext bytes:
// the header, the plaintext, and a tag per chunk (at least one chunk).
func (h Header) EncryptedSize(plaintext int64) int64 {
	cs := int64(h.ChunkSize)
	if cs == 0 {
		cs = DefaultChunkSize
	}
	chunks := max(1, (plaintext+cs-1)/cs)
	return int64(h.Len()) + plaintext + chunks*TagSize
}

var (
	transitKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	wrappedKeyRE = regexp.MustCompile(`^vault:v([1-9][0-9]{0,9}):[A-Za-z0-9+/]+={0,2}$`)
)

// validate checks the fields both a writer and a reader must hold to. The
// transit key name ends up in a Vault URL path, so it may not hold a slash.
func (h Header) validate() error {
	switch {
	case h.ChunkSize < MinChunkSize || h.ChunkSize > MaxChunkSize:
		return fmt.Errorf("%w: chunk size %d is outside [%d, %d]", ErrMalformedHeader, h.ChunkSize, MinChunkSize, MaxChunkSize)
	case len(h.TransitKey) == 0 || len(h.TransitKey) > MaxTransitKeyLen:
		return fmt.Errorf("%w: transit key name must be 1 to %d bytes", ErrMalformedHeader, MaxTransitKeyLen)
	case !transitKeyRE.MatchString(h.TransitKey):
		return fmt.Errorf("%w: transit key name may hold only letters, digits, '_', '.' and '-'", ErrMalformedHeader)
	case h.KeyVersion < 1 || h.KeyVersion > 1<<31-1:
		return fmt.Errorf("%w: key version %d is not a positive 32-bit integer", ErrMalformedHeader, h.KeyVersion)
	case len(h.WrappedKey) > MaxWrappedKeyLen:
		return fmt.Errorf("%w: wrapped key is longer than %d bytes", ErrMalformedHeader, MaxWrappedKeyLen)
	case len(h.Metadata) > MaxMetadataLen:
		return fmt.Errorf("%w: metadata is longer than %d bytes", ErrMalformedHeader, MaxMetadataLen)
	case len(h.Metadata) > 0 && !json.Valid(h.Metadata):
		return fmt.Errorf("%w: metadata is not valid JSON", ErrMalformedHeader)
	}
	m := wrappedKeyRE.FindStringSubmatch(h.WrappedKey)
	if m == nil {
		return fmt.Errorf("%w: wrapped key is not a Vault transit ciphertext (vault:vN:<base64>)", ErrMalformedHeader)
	}
	if v, err := strconv.Atoi(m[1]); err != nil || v != h.KeyVersion {
		return fmt.Errorf("%w: wrapped key's version does not match key version %d", ErrMalformedHeader, h.KeyVersion)
	}
	return nil
}

// keys are what a data key and a salt give an artifact.
type keys struct {
	payload, header []byte
}

func (k *keys) zero() {
	clear(k.payload)
	clear(k.header)
}

func deriveKeys(dataKey, salt []byte) (keys, error) {
	payload, err := hkdf.Key(sha256.New, dataKey, salt, infoPayload, KeySize)
	if err != nil {
		return keys{}, fmt.Errorf("deriving the payload key: %w", err)
	}
	header, err := hkdf.Key(sha256.New, dataKey, salt, infoHeader, sha256.Size)
	if err != nil {
		return keys{}, fmt.Errorf("deriving the header key: %w", err)
	}
	return keys{payload: payload, header: header}, nil
}

// keyCheck commits to the data key alone (no salt), so a mismatch means the
// wrong key, while a changed salt shows up as a header that fails its MAC.
func keyCheck(dataKey []byte) ([]byte, error) {
	c, err := hkdf.Key(sha256.New, dataKey, nil, infoKeyCheck, keyCheckLen)
	if err != nil {
		return nil, fmt.Errorf("deriving the key check: %w", err)
	}
	return c, nil
}

func headerMAC(headerKey, signed []byte) []byte {
	m := hmac.New(sha256.New, headerKey)
	m.Write(signed)
	return m.Sum(nil)
}

// marshal encodes a validated header with salt, its key check and its MAC.
func (h Header) marshal(salt, check, headerKey []byte) []byte {
	n := h.Len()
	b := make([]byte, 0, n)
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint16(b, FormatVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, uint32(h.ChunkSize))
	b = binary.BigEndian.AppendUint64(b, uint64(h.Created.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(h.KeyVersion))
	b = append(b, salt...)
	b = append(b, check...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.TransitKey)))
	b = append(b, h.TransitKey...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.WrappedKey)))
	b = append(b, h.WrappedKey...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.Metadata)))
	b = append(b, h.Metadata...)
	return append(b, headerMAC(headerKey, b)...)
}

// ReadHeader reads an artifact's header from r, and nothing past it, so r
// is left at the first chunk for NewReader. The fields are not yet
// authenticated: use them to find and unwrap the data key, then let
// NewReader prove them. It reads at most MaxHeaderLen bytes.
func ReadHeader(r io.Reader) (Header, error) {
	prefix := make([]byte, prefixLen)
	if n, err := io.ReadFull(r, prefix); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			if !bytes.HasPrefix(magic[:], prefix[:min(n, len(magic))]) {
				return Header{}, ErrNotArtifact
			}
			return Header{}, fmt.Errorf("reading the header: %w", ErrTruncated)
		}
		return Header{}, fmt.Errorf("reading the header: %w", err)
	}
	if !bytes.Equal(prefix[:len(magic)], magic[:]) {
		return Header{}, ErrNotArtifact
	}
	if v := binary.BigEndian.Uint16(prefix[offVersion:]); v != FormatVersion {
		return Header{}, fmt.Errorf("%w: %d (this reader knows %d)", ErrUnsupportedVersion, v, FormatVersion)
	}
	n := binary.BigEndian.Uint32(prefix[offHeaderLen:])
	if n < minHeaderLen || n > MaxHeaderLen {
		return Header{}, fmt.Errorf("%w: header length %d is outside [%d, %d]", ErrMalformedHeader, n, minHeaderLen, MaxHeaderLen)
	}
	raw := make([]byte, n)
	copy(raw, prefix)
	if _, err := io.ReadFull(r, raw[prefixLen:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Header{}, fmt.Errorf("reading the header: %w", ErrTruncated)
		}
		return Header{}, fmt.Errorf("reading the header: %w", err)
	}
	return parseHeader(raw)
}

// parseHeader decodes and validates a whole header, MAC included.
func parseHeader(raw []byte) (Header, error) {
	h := Header{
		ChunkSize:  int(binary.BigEndian.Uint32(raw[offChunkSize:])),
		Created:    time.Unix(int64(binary.BigEndian.Uint64(raw[offCreated:])), 0).UTC(),
		KeyVersion: int(binary.BigEndian.Uint32(raw[offKeyVersion:])),
	}
	rest := raw[fixedLen : len(raw)-macLen]
	field := func(lenSize int) ([]byte, bool) {
		if len(rest) < lenSize {
			return nil, false
		}
		var n uint64
		if lenSize == 2 {
			n = uint64(binary.BigEndian.Uint16(rest))
		} else {
			n = uint64(binary.BigEndian.Uint32(rest))
		}
		rest = rest[lenSize:]
		if uint64(len(rest)) < n {
			return nil, false
		}
		f := rest[:n]
		rest = rest[n:]
		return f, true
	}
	tk, ok1 := field(2)
	wk, ok2 := field(2)
	md, ok3 := field(4)
	if !ok1 || !ok2 || !ok3 || len(rest) != 0 {
		return Header{}, fmt.Errorf("%w: field lengths do not add up to the header length", ErrMalformedHeader)
	}
	h.TransitKey, h.WrappedKey = string(tk), string(wk)
	if len(md) > 0 {
		h.Metadata = json.RawMessage(bytes.Clone(md))
	}
	if err := h.validate(); err != nil {
		return Header{}, err
	}
	h.raw = raw
	return h, nil
}

// verify proves raw with dataKey and returns the artifact's keys.
func verify(raw, dataKey []byte) (keys, error) {
	check, err := keyCheck(dataKey)
	if err != nil {
		return keys{}, err
	}
	defer clear(check)
	if subtle.ConstantTimeCompare(check, raw[offKeyCheck:offKeyCheck+keyCheckLen]) != 1 {
		return keys{}, ErrWrongKey
	}
	k, err := deriveKeys(dataKey, raw[offSalt:offSalt+saltLen])
	if err != nil {
		return keys{}, err
	}
	signed, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !hmac.Equal(headerMAC(k.header, signed), mac) {
		k.zero()
		return keys{}, ErrHeaderTampered
	}
	return k, nil
}

// chunkParams fills the nonce and additional data of chunk index:
//
//	nonce = index (uint64, big-endian) || 0x00 0x00 0x00 || final
//	aad   = header MAC (32 bytes) || index (uint64, big-endian) || final
//
// with final 0x01 for the last chunk and 0x00 for the others.
func chunkParams(nonce *[12]byte, aad *[macLen + 9]byte, index uint64, final bool) {
	var f byte
	if final {
		f = 1
	}
	binary.BigEndian.PutUint64(nonce[0:8], index)
	nonce[8], nonce[9], nonce[10], nonce[11] = 0, 0, 0, f
	binary.BigEndian.PutUint64(aad[macLen:macLen+8], index)
	aad[macLen+8] = f
}
