package dump

import (
	"io"
	"time"
)

const (
	// pipeSize is the capacity Dump asks for pg_dump's output pipe: about
	// 30 ms of pg_dump -Z1's output on a 2-core machine, so that the reader
	// can wait between large reads without pg_dump finding the pipe full.
	pipeSize = 1 << 20
	// minBatchPipe is the smallest pipe worth waiting on; a pipe that could
	// not be enlarged (64 KiB) would fill while the reader waits.
	minBatchPipe = 256 << 10
	// minPause and maxPause bound batchReader's wait between reads.
	minPause = 500 * time.Microsecond
	maxPause = 10 * time.Millisecond
)

// batchReader reads pg_dump's output in large reads. pg_dump writes its
// archive 4 KiB at a time (stdio's buffer on a pipe), and a reader that
// takes each write as it comes makes thousands of reads and wake-ups per
// dump, CPU time that pg_dump needs on a busy machine (for 59 MiB of
// output, 0.3 s of this process's CPU, against 0.08 s in reads of a few
// hundred KiB).
// So once a read has emptied the pipe, it waits before the next one: longer
// (doubling, up to maxPause) if less than a quarter of the pipe had
// gathered since the last wait, shorter (halving) if more than three
// quarters had. The pipe is then read at about half full, and pg_dump
// blocks on it only if this process falls behind.
type batchReader struct {
	f io.Reader
	// size is the pipe's capacity; 0 reads as data comes.
	size int
	// gathered is what was read since the last wait.
	gathered int
	pause    time.Duration
}

func (b *batchReader) Read(p []byte) (int, error) {
	n, err := b.f.Read(p)
	b.gathered += n
	// A read that filled p may have left more in the pipe: read on.
	if err != nil || n == len(p) || b.size == 0 {
		return n, err
	}
	switch {
	case b.gathered < b.size/4:
		b.pause = min(max(2*b.pause, minPause), maxPause)
	case b.gathered > b.size*3/4:
		b.pause /= 2
	}
	b.gathered = 0
	if b.pause >= minPause {
		time.Sleep(b.pause)
	}
	return n, nil
}
