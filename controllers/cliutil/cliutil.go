// Package cliutil holds what the operator binary's subcommands share.
package cliutil

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteWhole writes what write produces to path through a temporary file
// beside it, which becomes path only once write returned nil: a failure
// leaves no partial file behind. It refuses to replace an existing path, and
// returns the bytes written.
func WriteWhole(path string, write func(w io.Writer) error) (int64, error) {
	if _, err := os.Lstat(path); err == nil {
		return 0, fmt.Errorf("%s already exists", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return 0, err
	}
	cw := &counter{w: tmp}
	err = write(cw)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return cw.n, err
}

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
