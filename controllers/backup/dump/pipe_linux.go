package dump

import (
	"os"

	"golang.org/x/sys/unix"
)

// outputPipe is the pipe pg_dump writes its archive to. The read end is
// blocking and stays out of Go's poller, so that pg_dump's small writes wake
// no thread of this process while it waits between reads; the pipe holds
// up to pipeSize bytes (0 if it could not be enlarged), which pg_dump
// fills while the reader waits.
func outputPipe() (r, w *os.File, size int, err error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, 0, err
	}
	r, w = os.NewFile(uintptr(fds[0]), "pg_dump output"), os.NewFile(uintptr(fds[1]), "pg_dump output")
	// An unprivileged process may go up to /proc/sys/fs/pipe-max-size (1 MiB
	// by default); past its quota of pipe pages, not at all.
	size, err = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize)
	if err != nil || size < minBatchPipe {
		size = 0
	}
	return r, w, size, nil
}
