//go:build !linux

package dump

import "os"

// outputPipe is the pipe pg_dump writes its archive to: an ordinary one,
// read as data comes (size 0).
func outputPipe() (r, w *os.File, size int, err error) {
	r, w, err = os.Pipe()
	return r, w, 0, err
}
