package dump

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// script is a pipe whose reads return n bytes each, as listed.
type script struct{ reads []int }

func (s *script) Read(p []byte) (int, error) {
	if len(s.reads) == 0 {
		return 0, io.EOF
	}
	n := min(s.reads[0], len(p))
	s.reads = s.reads[1:]
	return n, nil
}

func TestBatchReaderPauses(t *testing.T) {
	const size = 1 << 20
	tests := []struct {
		name string
		size int
		p    int   // the room each Read offers
		n    []int // what each read finds
		want []time.Duration
	}{
		{"a pipe that was not enlarged is read as data comes", 0, size, []int{4096, 4096, 4096}, []time.Duration{0, 0, 0}},
		{"little gathers: the wait doubles up to the most", size, size, []int{4096, 4096, 4096, 4096, 4096, 4096, 4096},
			[]time.Duration{minPause, 2 * minPause, 4 * minPause, 8 * minPause, 16 * minPause, maxPause, maxPause}},
		{"half the pipe gathers: the wait holds", size, size, []int{4096, size / 2, size / 2}, []time.Duration{minPause, minPause, minPause}},
		{"most of the pipe gathers: the wait halves", size, size, []int{4096, 4096, 4096, size, size * 7 / 8}, []time.Duration{minPause, 2 * minPause, 4 * minPause, 4 * minPause, 2 * minPause}},
		{"reads that fill p do not wait, and count towards what gathered", size, 300 << 10, []int{4096, 4096, 300 << 10, 300 << 10, 300 << 10, 100},
			[]time.Duration{minPause, 2 * minPause, 2 * minPause, 2 * minPause, 2 * minPause, minPause}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &batchReader{f: &script{reads: tt.n}, size: tt.size}
			p := make([]byte, tt.p)
			for i, want := range tt.want {
				if _, err := b.Read(p); err != nil {
					t.Fatal(err)
				}
				if b.pause != want {
					t.Fatalf("after read %d of %d bytes: wait %v, want %v", i, tt.n[i], b.pause, want)
				}
			}
		})
	}
}

// TestOutputPipe sends pg_dump-like writes of 4 KiB through the pipe Dump
// gives pg_dump, read by batchReader into rooms of several sizes.
func TestOutputPipe(t *testing.T) {
	data := make([]byte, 3<<20+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	for _, room := range []int{1<<10 + 16, 64<<10 + 16, 1<<20 + 16} {
		t.Run(strconv.Itoa(room), func(t *testing.T) {
			r, w, size, err := outputPipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if runtime.GOOS == "linux" && pipeMaxSize(t) >= pipeSize && size != pipeSize {
				t.Errorf("the pipe holds %d bytes, want %d", size, pipeSize)
			}
			go func() {
				defer w.Close()
				for rest := data; len(rest) > 0; {
					n := min(4096, len(rest))
					if _, err := w.Write(rest[:n]); err != nil {
						return
					}
					rest = rest[n:]
					if len(rest)%(256<<10) == 0 {
						time.Sleep(time.Millisecond) // pg_dump between tables
					}
				}
			}()
			b := &batchReader{f: r, size: size}
			var got bytes.Buffer
			p := make([]byte, room)
			for {
				n, err := b.Read(p)
				got.Write(p[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("read %d bytes, not the %d written", got.Len(), len(data))
			}
		})
	}
}

func pipeMaxSize(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
