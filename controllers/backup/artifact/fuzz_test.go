package artifact_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"

	"github.com/switchboard-dev/switchboard/controllers/backup/artifact"
)

// fuzzKey is fixed, so that artifacts in the corpus open with it and the
// fuzzer reaches the chunk layer.
var fuzzKey = bytes.Repeat([]byte{0x5a}, artifact.KeySize)

func seedArtifact(f *testing.F, n int) []byte {
	h := testHeader(artifact.MinChunkSize)
	p := bytes.Repeat([]byte("row,"), n/4+1)[:n]
	return encrypt(f, h, fuzzKey, p, 0)
}

// FuzzReader feeds arbitrary bytes to ReadHeader and NewReader: they must
// never panic, must fail only with the package's typed errors, must never
// return more plaintext than there was input, and must allocate in
// proportion to the input, whatever sizes a hostile header claims.
func FuzzReader(f *testing.F) {
	for _, n := range []int{0, 1, 100, artifact.MinChunkSize, 3*artifact.MinChunkSize + 5} {
		raw := seedArtifact(f, n)
		f.Add(raw)
		f.Add(raw[:len(raw)-1])
	}
	big := testHeader(artifact.MaxChunkSize)
	f.Add(encrypt(f, big, fuzzKey, []byte("short"), 0))
	f.Add([]byte("PGDMP"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := fuzzDecrypt(data)
		if err != nil {
			typed := false
			for _, e := range []error{artifact.ErrIntegrity, artifact.ErrNotArtifact, artifact.ErrUnsupportedVersion, artifact.ErrWrongKey} {
				typed = typed || errors.Is(err, e)
			}
			if !typed {
				t.Fatalf("untyped error: %v", err)
			}
		}
		if len(got) > len(data) {
			t.Fatalf("%d bytes of plaintext from %d bytes of input", len(got), len(data))
		}
		// TotalAlloc counts the whole process, and the fuzzing machinery
		// allocates too: only a bound exceeded on every try is a failure.
		const slack = artifact.MaxHeaderLen + 512<<10
		bound := uint64(4*len(data) + slack)
		var alloc uint64
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			fuzzDecrypt(data)
			runtime.ReadMemStats(&after)
			if alloc = after.TotalAlloc - before.TotalAlloc; alloc <= bound {
				return
			}
		}
		t.Fatalf("reading %d bytes allocated %d, more than %d", len(data), alloc, bound)
	})
}

func fuzzDecrypt(data []byte) ([]byte, error) {
	r := bytes.NewReader(data)
	h, err := artifact.ReadHeader(r)
	if err != nil {
		return nil, err
	}
	rd, err := artifact.NewReader(r, h, fuzzKey)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	_, err = io.Copy(&out, rd)
	return out.Bytes(), err
}

// FuzzRoundTrip encrypts arbitrary plaintext with arbitrary chunk sizes and
// write sizes: it must decrypt to itself, have the size EncryptedSize
// predicts, and be refused once its last byte is cut.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint32(0), uint8(0), uint16(0))
	f.Add([]byte("hello"), uint32(0), uint8(3), uint16(1))
	f.Add(bytes.Repeat([]byte{1, 2, 3}, 700), uint32(1), uint8(5), uint16(1000))
	f.Add(bytes.Repeat([]byte{9}, 1024), uint32(0), uint8(3), uint16(0))

	f.Fuzz(func(t *testing.T, data []byte, chunk uint32, repeat uint8, piece uint16) {
		h := testHeader(artifact.MinChunkSize + int(chunk%(8<<10)))
		p := bytes.Repeat(data, int(repeat%16)+1)
		raw := encrypt(t, h, fuzzKey, p, int(piece))
		if int64(len(raw)) != h.EncryptedSize(int64(len(p))) {
			t.Fatalf("artifact is %d bytes, EncryptedSize says %d", len(raw), h.EncryptedSize(int64(len(p))))
		}
		got, err := fuzzDecrypt(raw)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("round trip of %d bytes: %v", len(p), err)
		}
		if _, err := fuzzDecrypt(raw[:len(raw)-1]); !errors.Is(err, artifact.ErrIntegrity) {
			t.Fatalf("cut by one byte: %v, want an integrity error", err)
		}
	})
}
