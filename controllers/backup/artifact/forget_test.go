package artifact

import (
	"bytes"
	"io"
	"testing"
)

// TestForget checks that a Writer, once closed or aborted, and a Reader,
// once done, hold no plaintext and no cipher.
func TestForget(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	h := Header{TransitKey: "ws-a", KeyVersion: 1, WrappedKey: "vault:v1:AAAA", ChunkSize: MinChunkSize}
	secret := bytes.Repeat([]byte("personal data "), 100)
	zeroed := func(b []byte) bool { return !bytes.ContainsFunc(b[:cap(b)], func(r rune) bool { return r != 0 }) }

	for _, tc := range []struct{ abort, readFrom bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		abort := tc.abort
		var out bytes.Buffer
		w, err := NewWriter(&out, h, key)
		if err != nil {
			t.Fatal(err)
		}
		if tc.readFrom {
			w.ReadFrom(bytes.NewReader(secret))
		} else {
			w.Write(secret)
		}
		buf := w.buf[:cap(w.buf)]
		if abort {
			w.Abort()
		} else if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !zeroed(buf) || w.aead != nil {
			t.Errorf("abort %v, ReadFrom %v: the writer kept plaintext or its cipher", abort, tc.readFrom)
		}
	}

	var out bytes.Buffer
	w, _ := NewWriter(&out, h, key)
	w.Write(secret)
	w.Close()
	r := bytes.NewReader(out.Bytes())
	hh, err := ReadHeader(r)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(r, hh, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	ct, pt := rd.ct[:cap(rd.ct)], rd.pt[:cap(rd.pt)]
	if _, err := io.Copy(io.Discard, rd); err != nil {
		t.Fatal(err)
	}
	if !zeroed(ct) || !zeroed(pt) || rd.aead != nil {
		t.Error("the reader kept plaintext, ciphertext or its cipher after the end")
	}
}
