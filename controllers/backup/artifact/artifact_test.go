package artifact_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, artifact.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// fakeWrapped looks like Vault's ciphertext of a data key; the artifact
// layer never unwraps it.
func fakeWrapped(version int) string {
	b := make([]byte, 60)
	rand.Read(b)
	return fmt.Sprintf("vault:v%d:%s", version, base64.StdEncoding.EncodeToString(b))
}

func testHeader(chunkSize int) artifact.Header {
	return artifact.Header{
		TransitKey: "ws-acme-7f1c2d3e",
		KeyVersion: 3,
		WrappedKey: fakeWrapped(3),
		ChunkSize:  chunkSize,
		Created:    time.Date(2026, 3, 1, 3, 0, 7, 0, time.UTC),
		Metadata:   json.RawMessage(`{"workspaceUID":"7f1c2d3e","rows":{"contacts":120,"messages":5023}}`),
	}
}

func plaintext(t testing.TB, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if _, err := rand.Read(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// encrypt writes p in pieces of at most piece bytes (0: one Write).
func encrypt(t testing.TB, h artifact.Header, key, p []byte, piece int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := artifact.NewWriter(&out, h, key)
	if err != nil {
		t.Fatal(err)
	}
	if piece == 0 {
		piece = max(len(p), 1)
	}
	for rest := p; len(rest) > 0; {
		n := min(piece, len(rest))
		if m, err := w.Write(rest[:n]); err != nil || m != n {
			t.Fatalf("Write: %d, %v", m, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// decrypt reads a whole artifact the way a restore would.
func decrypt(raw, key []byte) ([]byte, artifact.Header, error) {
	r := bytes.NewReader(raw)
	h, err := artifact.ReadHeader(r)
	if err != nil {
		return nil, h, err
	}
	rd, err := artifact.NewReader(r, h, key)
	if err != nil {
		return nil, h, err
	}
	var out bytes.Buffer
	_, err = io.Copy(&out, rd)
	return out.Bytes(), h, err
}

// chunks splits an artifact into its header and its chunks.
func chunks(raw []byte, h artifact.Header) (header []byte, cs [][]byte) {
	header, rest := raw[:h.Len()], raw[h.Len():]
	full := h.ChunkSize + artifact.TagSize
	for len(rest) > full {
		cs = append(cs, rest[:full])
		rest = rest[full:]
	}
	return header, append(cs, rest)
}

func join(header []byte, cs ...[]byte) []byte {
	out := bytes.Clone(header)
	for _, c := range cs {
		out = append(out, c...)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	key := newKey(t)
	for _, cs := range []int{artifact.MinChunkSize, 4000, artifact.DefaultChunkSize} {
		sizes := []struct {
			name string
			n    int
		}{
			{"empty", 0},
			{"one byte", 1},
			{"chunk-1", cs - 1},
			{"chunk", cs},
			{"chunk+1", cs + 1},
			{"three chunks", 3 * cs},
			{"three chunks+7", 3*cs + 7},
		}
		if cs == artifact.DefaultChunkSize {
			sizes = append(sizes, struct {
				name string
				n    int
			}{"5 MiB+3", 5<<20 + 3})
		}
		for _, size := range sizes {
			for _, piece := range []int{0, 1 << 10, 7} {
				if piece == 7 && size.n > 64<<10 {
					continue // byte-sized writes of megabytes prove nothing more
				}
				t.Run(fmt.Sprintf("chunk %d/%s/writes of %d", cs, size.name, piece), func(t *testing.T) {
					h := testHeader(cs)
					p := plaintext(t, size.n)
					raw := encrypt(t, h, key, p, piece)

					chunks := max(1, (size.n+cs-1)/cs)
					if want := int64(len(raw)); h.EncryptedSize(int64(size.n)) != want {
						t.Errorf("EncryptedSize = %d, artifact is %d bytes", h.EncryptedSize(int64(size.n)), want)
					}
					if overhead := len(raw) - size.n; overhead != h.Len()+chunks*artifact.TagSize {
						t.Errorf("overhead %d bytes, want a %d-byte header and %d per chunk", overhead, h.Len(), artifact.TagSize)
					}
					got, gh, err := decrypt(raw, key)
					if err != nil {
						t.Fatalf("decrypt: %v", err)
					}
					if !bytes.Equal(got, p) {
						t.Fatalf("plaintext differs: got %d bytes, want %d", len(got), len(p))
					}
					if gh.TransitKey != h.TransitKey || gh.KeyVersion != h.KeyVersion || gh.WrappedKey != h.WrappedKey ||
						gh.ChunkSize != cs || !gh.Created.Equal(h.Created) || !bytes.Equal(gh.Metadata, h.Metadata) {
						t.Errorf("header came back as %+v, want %+v", gh, h)
					}
				})
			}
		}
	}
}

// TestReadFrom encrypts through ReadFrom, from readers that return little
// or a chunk and a bit at a time, and after and before Writes: the
// artifact reads back whole, with every chunk but the last full, and no
// empty final chunk.
func TestReadFrom(t *testing.T) {
	key := newKey(t)
	for _, cs := range []int{artifact.MinChunkSize, 4000} {
		for _, n := range []int{0, 1, cs - 1, cs, cs + 1, cs + artifact.TagSize - 1, cs + artifact.TagSize, cs + artifact.TagSize + 1, 3 * cs, 3*cs + 7} {
			for name, wrap := range map[string]func(io.Reader) io.Reader{
				"whole":        func(r io.Reader) io.Reader { return r },
				"one byte":     iotest.OneByteReader,
				"half":         iotest.HalfReader,
				"data and EOF": iotest.DataErrReader,
				"chunk pieces": func(r io.Reader) io.Reader { return &pieces{r: r, n: cs} },
				"odd pieces":   func(r io.Reader) io.Reader { return &pieces{r: r, n: cs + 5} },
			} {
				for _, around := range []int{0, 3} {
					t.Run(fmt.Sprintf("chunk %d/%d bytes/%s/%d written around", cs, n, name, around), func(t *testing.T) {
						h := testHeader(cs)
						p := plaintext(t, n+2*around)
						var out bytes.Buffer
						w, err := artifact.NewWriter(&out, h, key)
						if err != nil {
							t.Fatal(err)
						}
						if _, err := w.Write(p[:around]); err != nil {
							t.Fatal(err)
						}
						got, err := w.ReadFrom(wrap(bytes.NewReader(p[around : around+n])))
						if err != nil || got != int64(n) {
							t.Fatalf("ReadFrom = %d, %v; want %d", got, err, n)
						}
						if _, err := w.Write(p[around+n:]); err != nil {
							t.Fatal(err)
						}
						if err := w.Close(); err != nil {
							t.Fatal(err)
						}
						if size := h.EncryptedSize(int64(len(p))); int64(out.Len()) != size {
							t.Errorf("artifact is %d bytes, want %d", out.Len(), size)
						}
						back, _, err := decrypt(out.Bytes(), key)
						if err != nil || !bytes.Equal(back, p) {
							t.Fatalf("decrypt: %d bytes, %v; want %d bytes", len(back), err, len(p))
						}
					})
				}
			}
		}
	}

	h := testHeader(artifact.MinChunkSize)
	p := plaintext(t, 3*artifact.MinChunkSize+9)
	t.Run("io.Copy uses it", func(t *testing.T) {
		var out bytes.Buffer
		w, err := artifact.NewWriter(&out, h, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := io.Writer(w).(io.ReaderFrom); !ok {
			t.Fatal("Writer is not an io.ReaderFrom")
		}
		if _, err := io.Copy(w, iotest.HalfReader(bytes.NewReader(p))); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if back, _, err := decrypt(out.Bytes(), key); err != nil || !bytes.Equal(back, p) {
			t.Fatalf("decrypt: %v", err)
		}
	})
	t.Run("a failing source is returned, and the artifact is never committed", func(t *testing.T) {
		var out bytes.Buffer
		w, err := artifact.NewWriter(&out, h, key)
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("pg_dump died")
		n, err := w.ReadFrom(io.MultiReader(bytes.NewReader(p), iotest.ErrReader(boom)))
		if !errors.Is(err, boom) || n != int64(len(p)) {
			t.Fatalf("ReadFrom = %d, %v; want %d, the source's error", n, err, len(p))
		}
		w.Abort()
		if _, _, err := decrypt(out.Bytes(), key); !errors.Is(err, artifact.ErrTruncated) {
			t.Fatalf("aborted artifact: %v, want ErrTruncated", err)
		}
	})
	t.Run("a failed write is returned, and the artifact is never committed", func(t *testing.T) {
		var out bytes.Buffer
		w, err := artifact.NewWriter(&failAfter{w: &out, n: h.Len() + artifact.MinChunkSize + artifact.TagSize}, h, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.ReadFrom(bytes.NewReader(p)); err == nil {
			t.Fatal("ReadFrom did not report the failed write")
		}
		if _, err := w.ReadFrom(bytes.NewReader(p)); err == nil {
			t.Fatal("ReadFrom after a failed write returned nil")
		}
		if err := w.Close(); err == nil {
			t.Fatal("Close after a failed write returned nil")
		}
		if _, _, err := decrypt(out.Bytes(), key); !errors.Is(err, artifact.ErrTruncated) {
			t.Fatalf("artifact of a failed write: %v, want ErrTruncated", err)
		}
	})
	t.Run("after Close", func(t *testing.T) {
		w, err := artifact.NewWriter(io.Discard, h, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.ReadFrom(bytes.NewReader(p)); !errors.Is(err, artifact.ErrClosed) {
			t.Fatalf("ReadFrom after Close: %v, want ErrClosed", err)
		}
	})
}

// pieces returns at most n bytes per Read.
type pieces struct {
	r io.Reader
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	return p.r.Read(b[:min(len(b), p.n)])
}

// TestReadPaths reads one artifact through readers that return a byte at a
// time, half of what is asked, or data with io.EOF, through Read and WriteTo.
func TestReadPaths(t *testing.T) {
	key := newKey(t)
	h := testHeader(artifact.MinChunkSize)
	p := plaintext(t, 5*artifact.MinChunkSize+100)
	raw := encrypt(t, h, key, p, 0)
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"one byte":     iotest.OneByteReader,
		"half":         iotest.HalfReader,
		"data and EOF": iotest.DataErrReader,
	} {
		for _, viaRead := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/Read %v", name, viaRead), func(t *testing.T) {
				r := wrap(bytes.NewReader(raw))
				hh, err := artifact.ReadHeader(r)
				if err != nil {
					t.Fatal(err)
				}
				rd, err := artifact.NewReader(r, hh, key)
				if err != nil {
					t.Fatal(err)
				}
				var got []byte
				if viaRead {
					got, err = io.ReadAll(iotest.OneByteReader(rd))
				} else {
					var b bytes.Buffer
					_, err = rd.WriteTo(&b)
					got = b.Bytes()
				}
				if err != nil || !bytes.Equal(got, p) {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(p))
				}
				if n, err := rd.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Errorf("Read after the end: %d, %v; want 0, EOF", n, err)
				}
			})
		}
	}
}

func TestCreatedDefaultsAndTruncates(t *testing.T) {
	key := newKey(t)
	h := testHeader(0)
	h.Created = time.Time{}
	before := time.Now().Add(-time.Second)
	_, gh, err := decrypt(encrypt(t, h, key, nil, 0), key)
	if err != nil {
		t.Fatal(err)
	}
	if gh.Created.Before(before) || gh.Created.After(time.Now()) || gh.Created.Location() != time.UTC {
		t.Errorf("Created = %v, want now in UTC", gh.Created)
	}
	if gh.ChunkSize != artifact.DefaultChunkSize {
		t.Errorf("ChunkSize = %d, want the default %d", gh.ChunkSize, artifact.DefaultChunkSize)
	}
	h.Created = time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.FixedZone("CET", 3600))
	_, gh, err = decrypt(encrypt(t, h, key, nil, 0), key)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC); !gh.Created.Equal(want) || gh.Created.Location() != time.UTC {
		t.Errorf("Created = %v, want %v", gh.Created, want)
	}
}

func TestNewWriterRefuses(t *testing.T) {
	key := newKey(t)
	for _, tc := range []struct {
		name   string
		change func(*artifact.Header)
		key    []byte
		want   error
	}{
		{"short key", nil, key[:16], artifact.ErrKeySize},
		{"chunk too small", func(h *artifact.Header) { h.ChunkSize = artifact.MinChunkSize - 1 }, key, artifact.ErrMalformedHeader},
		{"chunk too large", func(h *artifact.Header) { h.ChunkSize = artifact.MaxChunkSize + 1 }, key, artifact.ErrMalformedHeader},
		{"no transit key", func(h *artifact.Header) { h.TransitKey = "" }, key, artifact.ErrMalformedHeader},
		{"transit key with a slash", func(h *artifact.Header) { h.TransitKey = "ws-a/../../sys" }, key, artifact.ErrMalformedHeader},
		{"transit key too long", func(h *artifact.Header) { h.TransitKey = strings.Repeat("a", artifact.MaxTransitKeyLen+1) }, key, artifact.ErrMalformedHeader},
		{"key version zero", func(h *artifact.Header) { h.KeyVersion = 0 }, key, artifact.ErrMalformedHeader},
		{"wrapped key not Vault's", func(h *artifact.Header) { h.WrappedKey = "c2VjcmV0" }, key, artifact.ErrMalformedHeader},
		{"wrapped key of another version", func(h *artifact.Header) { h.WrappedKey = fakeWrapped(2) }, key, artifact.ErrMalformedHeader},
		{"metadata not JSON", func(h *artifact.Header) { h.Metadata = json.RawMessage(`{"rows":`) }, key, artifact.ErrMalformedHeader},
		{"metadata too large", func(h *artifact.Header) {
			h.Metadata = json.RawMessage(`"` + strings.Repeat("x", artifact.MaxMetadataLen) + `"`)
		}, key, artifact.ErrMalformedHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := testHeader(0)
			if tc.change != nil {
				tc.change(&h)
			}
			var out bytes.Buffer
			_, err := artifact.NewWriter(&out, h, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewWriter: %v, want %v", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("NewWriter wrote %d bytes before refusing", out.Len())
			}
		})
	}
}

// refused checks err is one of the typed errors and carries no key material.
func refused(t *testing.T, err error, key []byte, h artifact.Header) {
	t.Helper()
	if err == nil {
		t.Fatal("the damaged artifact was accepted")
	}
	typed := false
	for _, e := range []error{artifact.ErrIntegrity, artifact.ErrNotArtifact, artifact.ErrUnsupportedVersion, artifact.ErrWrongKey} {
		typed = typed || errors.Is(err, e)
	}
	if !typed {
		t.Fatalf("error %q is not one of the package's typed errors", err)
	}
	msg := err.Error()
	for _, secret := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), h.WrappedKey, string(key)} {
		if secret != "" && strings.Contains(msg, secret) {
			t.Fatalf("error %q holds key material", msg)
		}
	}
}

func TestTamper(t *testing.T) {
	key := newKey(t)
	h := testHeader(artifact.MinChunkSize)
	p := plaintext(t, 3*artifact.MinChunkSize+100)
	raw := encrypt(t, h, key, p, 0)
	hl := h.Len()
	flip := func(off int, bit byte) []byte {
		b := bytes.Clone(raw)
		b[off] ^= bit
		return b
	}

	field := func(name string) int {
		// Offsets from docs/backup-format.md.
		switch name {
		case "magic":
			return 3
		case "version":
			return 9
		case "header length":
			return 13
		case "chunk size":
			return 17
		case "created":
			return 25
		case "key version":
			return 29
		case "salt":
			return 40
		case "key check":
			return 70
		case "transit key":
			return 96
		case "metadata":
			return hl - 32 - 5
		case "header MAC":
			return hl - 1
		}
		panic(name)
	}
	for _, tc := range []struct {
		name string
		off  int
		bit  byte
		want error
	}{
		{"magic", field("magic"), 1, artifact.ErrNotArtifact},
		{"version", field("version"), 2, artifact.ErrUnsupportedVersion},
		{"header length", field("header length"), 1, artifact.ErrMalformedHeader},
		{"chunk size", field("chunk size"), 1, artifact.ErrHeaderTampered},
		{"chunk size out of bounds", field("chunk size") - 3, 0x80, artifact.ErrMalformedHeader},
		{"created", field("created"), 1, artifact.ErrHeaderTampered},
		{"key version", field("key version"), 1, artifact.ErrMalformedHeader}, // no longer the wrapped key's
		{"salt", field("salt"), 1, artifact.ErrHeaderTampered},
		{"key check", field("key check"), 1, artifact.ErrWrongKey},
		{"transit key", field("transit key"), 1, artifact.ErrHeaderTampered},
		{"metadata", field("metadata"), 1, artifact.ErrHeaderTampered},
		{"header MAC", field("header MAC"), 1, artifact.ErrHeaderTampered},
		{"first chunk's ciphertext", hl + 5, 1, artifact.ErrChunkTampered},
		{"second chunk's tag", hl + 2*(artifact.MinChunkSize+artifact.TagSize) - 3, 0x40, artifact.ErrChunkTampered},
		{"last chunk's ciphertext", len(raw) - artifact.TagSize - 1, 1, artifact.ErrChunkTampered},
		{"last chunk's tag", len(raw) - 1, 0x80, artifact.ErrChunkTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decrypt(flip(tc.off, tc.bit), key)
			refused(t, err, key, h)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("every byte", func(t *testing.T) {
		for off := range raw {
			_, _, err := decrypt(flip(off, 1<<(off%8)), key)
			if err == nil {
				t.Fatalf("a bit flipped at offset %d was not noticed", off)
			}
			refused(t, err, key, h)
			var ce *artifact.ChunkError
			if off >= hl && (!errors.As(err, &ce) || int(ce.Index) != (off-hl)/(artifact.MinChunkSize+artifact.TagSize)) {
				t.Fatalf("flip at %d, in chunk %d: %v", off, (off-hl)/(artifact.MinChunkSize+artifact.TagSize), err)
			}
		}
	})
}

func TestTruncation(t *testing.T) {
	key := newKey(t)
	cs := artifact.MinChunkSize
	for _, n := range []int{0, 100, cs, 4*cs + 9, 4 * cs} {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			h := testHeader(cs)
			raw := encrypt(t, h, key, plaintext(t, n), 0)
			header, cks := chunks(raw, h)
			boundaries := map[int]bool{}
			for i := range cks {
				boundaries[len(join(header, cks[:i]...))] = true
			}
			for cut := range len(raw) {
				_, _, err := decrypt(raw[:cut], key)
				refused(t, err, key, h)
				if !errors.Is(err, artifact.ErrIntegrity) {
					t.Fatalf("cut at %d: %v, want an integrity error", cut, err)
				}
				if (boundaries[cut] || cut < len(header)) && !errors.Is(err, artifact.ErrTruncated) {
					t.Fatalf("cut at %d, a chunk boundary: %v, want ErrTruncated", cut, err)
				}
			}
			if len(cks) > 1 {
				_, _, err := decrypt(join(header, cks[:len(cks)-1]...), key)
				if !errors.Is(err, artifact.ErrTruncated) {
					t.Fatalf("final chunk dropped: %v, want ErrTruncated", err)
				}
			}
		})
	}
}

func TestReorderDuplicateExtend(t *testing.T) {
	key := newKey(t)
	cs := artifact.MinChunkSize
	h := testHeader(cs)
	short := encrypt(t, h, key, plaintext(t, 3*cs+50), 0) // short final chunk
	whole := encrypt(t, h, key, plaintext(t, 4*cs), 0)    // full final chunk
	sh, sc := chunks(short, h)
	wh, wc := chunks(whole, h)
	for _, tc := range []struct {
		name  string
		raw   []byte
		index uint64
		want  error
	}{
		{"two chunks swapped", join(sh, sc[0], sc[2], sc[1], sc[3]), 1, artifact.ErrChunkTampered},
		{"last two swapped", join(wh, wc[0], wc[1], wc[3], wc[2]), 2, artifact.ErrChunkTampered},
		{"a chunk duplicated", join(sh, sc[0], sc[1], sc[1], sc[2], sc[3]), 2, artifact.ErrChunkTampered},
		{"a chunk replaced by its neighbour", join(sh, sc[0], sc[0], sc[2], sc[3]), 1, artifact.ErrChunkTampered},
		{"first chunk dropped", join(sh, sc[1], sc[2], sc[3]), 0, artifact.ErrChunkTampered},
		{"a middle chunk dropped", join(sh, sc[0], sc[2], sc[3]), 1, artifact.ErrChunkTampered},
		{"short final chunk duplicated", join(sh, sc[0], sc[1], sc[2], sc[3], sc[3]), 3, artifact.ErrChunkTampered},
		{"full final chunk duplicated", join(wh, wc[0], wc[1], wc[2], wc[3], wc[3]), 3, artifact.ErrTrailingData},
		{"a byte appended", append(bytes.Clone(whole), 0), 3, artifact.ErrTrailingData},
		{"the last chunk as the first", join(wh, wc[3]), 0, artifact.ErrChunkTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decrypt(tc.raw, key)
			refused(t, err, key, h)
			var ce *artifact.ChunkError
			if !errors.As(err, &ce) || ce.Index != tc.index || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v at chunk %d", err, tc.want, tc.index)
			}
		})
	}
}

func TestSplice(t *testing.T) {
	cs := artifact.MinChunkSize
	keyA, keyB := newKey(t), newKey(t)
	h := testHeader(cs)
	a := encrypt(t, h, keyA, plaintext(t, 3*cs+10), 0)
	b := encrypt(t, h, keyB, plaintext(t, 3*cs+10), 0)
	ah, ac := chunks(a, h)
	bh, bc := chunks(b, h)
	// A caller that (wrongly) reuses a data key still gets artifacts that do
	// not mix: each has its own salt, so its own payload key.
	a2 := encrypt(t, h, keyA, plaintext(t, 3*cs+10), 0)
	a2h, a2c := chunks(a2, h)
	for _, tc := range []struct {
		name  string
		raw   []byte
		key   []byte
		index uint64
		want  error
	}{
		{"A's header, B's chunks, A's key", join(ah, bc...), keyA, 0, artifact.ErrChunkTampered},
		{"B's header, A's chunks, B's key", join(bh, ac...), keyB, 0, artifact.ErrChunkTampered},
		{"one chunk of B in A", join(ah, ac[0], bc[1], ac[2], ac[3]), keyA, 1, artifact.ErrChunkTampered},
		{"B's final chunk on A", join(ah, ac[0], ac[1], ac[2], bc[3]), keyA, 3, artifact.ErrChunkTampered},
		{"same key, other artifact's header", join(a2h, ac...), keyA, 0, artifact.ErrChunkTampered},
		{"same key, one chunk of the other", join(ah, ac[0], a2c[1], ac[2], ac[3]), keyA, 1, artifact.ErrChunkTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decrypt(tc.raw, tc.key)
			refused(t, err, tc.key, h)
			var ce *artifact.ChunkError
			if !errors.As(err, &ce) || ce.Index != tc.index || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v at chunk %d", err, tc.want, tc.index)
			}
		})
	}
}

func TestWrongKey(t *testing.T) {
	key := newKey(t)
	h := testHeader(0)
	raw := encrypt(t, h, key, plaintext(t, 100), 0)
	_, _, err := decrypt(raw, newKey(t))
	refused(t, err, key, h)
	if !errors.Is(err, artifact.ErrWrongKey) || errors.Is(err, artifact.ErrIntegrity) {
		t.Fatalf("got %v, want ErrWrongKey, which is no integrity failure", err)
	}
	if _, _, err := decrypt(raw, key[:31]); !errors.Is(err, artifact.ErrKeySize) {
		t.Fatalf("short key: %v, want ErrKeySize", err)
	}
	hh, err := artifact.ReadHeader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	hh.ChunkSize = 4 << 20 // fields changed after ReadHeader do not count
	rd, err := artifact.NewReader(bytes.NewReader(raw[hh.Len():]), hh, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rd); err != nil {
		t.Fatalf("decrypting with the header's own values: %v", err)
	}
	if _, err := artifact.NewReader(bytes.NewReader(raw), testHeader(0), key); err == nil {
		t.Fatal("NewReader took a Header that ReadHeader did not return")
	}
}

func TestNotAnArtifact(t *testing.T) {
	key := newKey(t)
	valid := encrypt(t, testHeader(0), key, nil, 0)
	for _, tc := range []struct {
		name string
		raw  []byte
		want error
	}{
		{"empty", nil, artifact.ErrTruncated},
		{"half the magic", valid[:4], artifact.ErrTruncated},
		{"a pg_dump archive", []byte("PGDMP\x01\x0e\x00\x04\x08\x01\x01\x01\x00\x00\x00"), artifact.ErrNotArtifact},
		{"text", []byte("hi"), artifact.ErrNotArtifact},
		{"header length too large", func() []byte {
			b := bytes.Clone(valid)
			binary.BigEndian.PutUint32(b[10:], artifact.MaxHeaderLen+1)
			return b
		}(), artifact.ErrMalformedHeader},
		{"header length too small", func() []byte {
			b := bytes.Clone(valid)
			binary.BigEndian.PutUint32(b[10:], 20)
			return b
		}(), artifact.ErrMalformedHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := artifact.ReadHeader(bytes.NewReader(tc.raw)); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestHostileChunkSize reads an artifact whose header claims the largest
// chunk size but that holds a few bytes: the reader must not allocate for
// the claim.
func TestHostileChunkSize(t *testing.T) {
	key := newKey(t)
	h := testHeader(artifact.MaxChunkSize)
	raw := encrypt(t, h, key, plaintext(t, 100), 0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, _, err := decrypt(raw, key); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if allocs := after.TotalAlloc - before.TotalAlloc; allocs > 1<<20 {
		t.Fatalf("reading a 100-byte artifact that claims %d-byte chunks allocated %d bytes", artifact.MaxChunkSize, allocs)
	}
}

func TestWriterLifecycle(t *testing.T) {
	key := newKey(t)
	keyCopy := bytes.Clone(key)
	h := testHeader(artifact.MinChunkSize)
	p := plaintext(t, 2*artifact.MinChunkSize+5)

	t.Run("abort leaves a truncated artifact", func(t *testing.T) {
		var out bytes.Buffer
		w, err := artifact.NewWriter(&out, h, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		if _, err := w.Write(p); !errors.Is(err, artifact.ErrClosed) {
			t.Errorf("Write after Abort: %v, want ErrClosed", err)
		}
		if err := w.Close(); !errors.Is(err, artifact.ErrClosed) {
			t.Errorf("Close after Abort: %v, want ErrClosed", err)
		}
		if _, _, err := decrypt(out.Bytes(), key); !errors.Is(err, artifact.ErrTruncated) {
			t.Fatalf("aborted artifact: %v, want ErrTruncated", err)
		}
	})
	t.Run("close twice, abort after close", func(t *testing.T) {
		var out bytes.Buffer
		w, err := artifact.NewWriter(&out, h, key)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		n := out.Len()
		w.Abort()
		if err := w.Close(); err != nil || out.Len() != n {
			t.Errorf("second Close: %v, %d more bytes", err, out.Len()-n)
		}
		if _, err := w.Write(p); !errors.Is(err, artifact.ErrClosed) {
			t.Errorf("Write after Close: %v, want ErrClosed", err)
		}
		if got, _, err := decrypt(out.Bytes(), key); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("decrypt: %v", err)
		}
	})
	t.Run("a failed write is never committed", func(t *testing.T) {
		var out bytes.Buffer
		fail := &failAfter{w: &out, n: h.Len() + artifact.MinChunkSize + artifact.TagSize}
		w, err := artifact.NewWriter(fail, h, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p); err == nil {
			t.Fatal("Write did not report the failure")
		}
		if err := w.Close(); err == nil {
			t.Fatal("Close after a failed write returned nil")
		}
		if _, _, err := decrypt(out.Bytes(), key); !errors.Is(err, artifact.ErrTruncated) {
			t.Fatalf("artifact of a failed write: %v, want ErrTruncated", err)
		}
	})
	if !bytes.Equal(key, keyCopy) {
		t.Error("the writer changed the caller's key")
	}
}

type failAfter struct {
	w io.Writer
	n int
}

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errors.New("disk full")
	}
	f.n -= len(p)
	return f.w.Write(p)
}

// TestSourceErrors passes a failure of the underlying reader through, as
// itself and not as tampering.
func TestSourceErrors(t *testing.T) {
	key := newKey(t)
	h := testHeader(artifact.MinChunkSize)
	raw := encrypt(t, h, key, plaintext(t, 3*artifact.MinChunkSize), 0)
	boom := errors.New("connection reset")
	r := io.MultiReader(bytes.NewReader(raw[:h.Len()+artifact.MinChunkSize+40]), iotest.ErrReader(boom))
	hh, err := artifact.ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := artifact.NewReader(r, hh, key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rd)
	if !errors.Is(err, boom) || errors.Is(err, artifact.ErrIntegrity) {
		t.Fatalf("got %v, want the source's error", err)
	}
}

// BenchmarkEncrypt measures encryption alone: in whole-buffer writes, in
// the 32 KiB writes io.Copy makes from a pipe into a plain io.Writer, and
// through ReadFrom in reads of 256 KiB, about what Dump gets from
// pg_dump's enlarged pipe.
func BenchmarkEncrypt(b *testing.B) {
	key := newKey(b)
	p := plaintext(b, 64<<20)
	for _, cs := range []int{64 << 10, artifact.DefaultChunkSize, 4 << 20} {
		for _, piece := range []int{32 << 10, len(p)} {
			b.Run(fmt.Sprintf("chunk=%dKiB/write=%dKiB", cs>>10, piece>>10), func(b *testing.B) {
				h := testHeader(cs)
				b.SetBytes(int64(len(p)))
				for b.Loop() {
					w, err := artifact.NewWriter(io.Discard, h, key)
					if err != nil {
						b.Fatal(err)
					}
					for rest := p; len(rest) > 0; rest = rest[piece:] {
						if _, err := w.Write(rest[:piece]); err != nil {
							b.Fatal(err)
						}
					}
					if err := w.Close(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("chunk=%dKiB/ReadFrom=256KiB", cs>>10), func(b *testing.B) {
			h := testHeader(cs)
			b.SetBytes(int64(len(p)))
			for b.Loop() {
				w, err := artifact.NewWriter(io.Discard, h, key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.ReadFrom(&pieces{r: bytes.NewReader(p), n: 256 << 10}); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	key := newKey(b)
	h := testHeader(artifact.DefaultChunkSize)
	p := plaintext(b, 64<<20)
	raw := encrypt(b, h, key, p, 0)
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		r := bytes.NewReader(raw)
		hh, err := artifact.ReadHeader(r)
		if err != nil {
			b.Fatal(err)
		}
		rd, err := artifact.NewReader(r, hh, key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDocumentedExample decrypts the worked example of
// docs/backup-format.md, so that the specification and the code agree.
func TestDocumentedExample(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/backup-format.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```hex\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("docs/backup-format.md has no ```hex block")
	}
	raw, err := hex.DecodeString(strings.Join(strings.Fields(block), ""))
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, artifact.KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	got, h, err := decrypt(raw, key)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello, auditor\n" || h.TransitKey != "ws-acme-5b0e6c1a" || h.KeyVersion != 1 || h.ChunkSize != 1024 ||
		!h.Created.Equal(time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)) || h.Len() != 256 ||
		string(h.Metadata) != `{"workspaceUID":"5b0e6c1a","rows":{"contacts":2}}` {
		t.Fatalf("the example reads as %q with header %+v", got, h)
	}
}
