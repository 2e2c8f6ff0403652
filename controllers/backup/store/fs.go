package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

// fsStore keeps each object in a file at <root>/<key>. A Put writes
// <dir>/.<name>.tmp-<random> first, then renames it into place.
type fsStore struct {
	root string
	url  string
}

func newFS(l Location) *fsStore {
	return &fsStore{root: l.Path, url: l.String()}
}

// tmpMarker sits between a temporary file's object name and its random
// suffix. Keys cannot start a segment with '.', so no object is ever named
// like a temporary file.
const tmpMarker = ".tmp-"

// tmpName matches a temporary file's name and captures the object name.
var tmpName = regexp.MustCompile(`^\.(.+)\.tmp-[0-9]+$`)

func (s *fsStore) URL() string { return s.url }

func (s *fsStore) fail(op, key string, err error) error {
	var se *Error
	if errors.As(err, &se) {
		err = se.Err
	}
	return &Error{Op: op, Store: s.url, Key: key, Err: err}
}

// path maps a key to its file, after checking the key.
func (s *fsStore) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(s.root, filepath.FromSlash(key))
	if !strings.HasPrefix(p, s.root+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: %q leaves the store's folder", ErrInvalidKey, key)
	}
	return p, nil
}

// checkRoot fails unless the store's folder exists: it is usually a mounted
// volume, and creating it would write backups to a container's own disk.
func (s *fsStore) checkRoot() error {
	st, err := os.Stat(s.root)
	if err != nil {
		return detail(fmt.Sprintf("folder %s: %v (is its volume mounted?)", s.root, errors.Unwrap(err)), ErrUnreachable)
	}
	if !st.IsDir() {
		return detail(fmt.Sprintf("%s is not a folder", s.root), ErrUnreachable)
	}
	return nil
}

func (s *fsStore) Ping(ctx context.Context) error {
	if err := s.checkRoot(); err != nil {
		return s.fail("ping", "", err)
	}
	return nil
}

func (s *fsStore) Put(ctx context.Context, key string, r io.Reader) (Object, error) {
	p, err := s.path(key)
	if err != nil {
		return Object{}, s.fail("put", key, err)
	}
	if err := s.checkRoot(); err != nil {
		return Object{}, s.fail("put", key, err)
	}
	dir, base := filepath.Dir(p), filepath.Base(p)
	f, err := s.createTemp(dir, base)
	if err != nil {
		return Object{}, s.fail("put", key, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := copyContext(ctx, f, r)
	if err != nil {
		return Object{}, s.fail("put", key, err)
	}
	if err := f.Sync(); err != nil {
		return Object{}, s.fail("put", key, err)
	}
	if err := f.Close(); err != nil {
		return Object{}, s.fail("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Object{}, s.fail("put", key, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return Object{}, s.fail("put", key, err)
	}
	done = true
	// Without the folder's sync, a power cut could lose the rename while
	// the caller believes the backup stored.
	if err := syncDir(dir); err != nil {
		os.Remove(p)
		return Object{}, s.fail("put", key, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return Object{}, s.fail("put", key, err)
	}
	return Object{Key: key, Size: n, ModTime: st.ModTime()}, nil
}

// createTemp creates the temporary file, and its folders. A Purge of a
// sibling may remove an emptied folder between the two, so it tries again.
func (s *fsStore) createTemp(dir, base string) (*os.File, error) {
	var err error
	for range 3 {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		var f *os.File
		f, err = os.CreateTemp(dir, "."+base+tmpMarker+"*")
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, err
}

// copyContext copies r to w, stopping at ctx's end. A read error is the
// caller's failure, and says so.
func copyContext(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		nr, rerr := r.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, fmt.Errorf("reading the object's content: %w", rerr)
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// notExist says whether err means that no file is at the path.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func (s *fsStore) Stat(ctx context.Context, key string) (Object, error) {
	p, err := s.path(key)
	if err != nil {
		return Object{}, s.fail("stat", key, err)
	}
	st, err := os.Stat(p)
	if notExist(err) || err == nil && !st.Mode().IsRegular() {
		return Object{}, s.fail("stat", key, ErrNotFound)
	}
	if err != nil {
		return Object{}, s.fail("stat", key, err)
	}
	return Object{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

func (s *fsStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	f, err := os.Open(p)
	if notExist(err) {
		return nil, s.fail("get", key, ErrNotFound)
	}
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = ErrNotFound
		}
		return nil, s.fail("get", key, err)
	}
	return f, nil
}

func (s *fsStore) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return s.fail("delete", key, err)
	}
	if err := removeFile(p); err != nil {
		return s.fail("delete", key, err)
	}
	return nil
}

// removeFile removes the regular file at p, if there is one, and syncs its
// folder so that the removal survives a power cut.
func removeFile(p string) error {
	st, err := os.Lstat(p)
	if notExist(err) || err == nil && st.IsDir() {
		return nil
	}
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !notExist(err) {
		return err
	}
	return syncDir(filepath.Dir(p))
}

func (s *fsStore) Purge(ctx context.Context, key string) (PurgeReport, error) {
	rep := PurgeReport{Store: s.url, Key: key}
	p, err := s.path(key)
	if err != nil {
		return rep, s.fail("purge", key, err)
	}
	dir, base := filepath.Dir(p), filepath.Base(p)
	if st, err := os.Lstat(p); err == nil && !st.IsDir() {
		rep.Existed, rep.Size = true, st.Size()
	} else if err != nil && !notExist(err) {
		return rep, s.fail("purge", key, err)
	}
	temps, err := tempFilesOf(dir, base)
	if err != nil {
		return rep, s.fail("purge", key, err)
	}
	for _, t := range temps {
		if err := os.Remove(t); err != nil && !notExist(err) {
			return rep, s.fail("purge", key, err)
		}
		rep.RemovedTempFiles++
	}
	if err := removeFile(p); err != nil {
		return rep, s.fail("purge", key, err)
	}
	if err := ctx.Err(); err != nil {
		return rep, s.fail("purge", key, err)
	}

	// The checks, from scratch.
	st, err := os.Lstat(p)
	switch {
	case err == nil && st.IsDir():
		// A folder of other objects, not an object.
	case err == nil:
		return rep, s.fail("purge", key, detail("the file "+p+" is still there", ErrNotPurged))
	case !notExist(err):
		return rep, s.fail("purge", key, err)
	}
	rep.Checks = append(rep.Checks, "lstat "+p+": no such file")
	if _, err := s.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
		if err == nil {
			err = detail("stat found the object", ErrNotPurged)
		}
		return rep, s.fail("purge", key, err)
	}
	rep.Checks = append(rep.Checks, "stat "+key+": NotFound")
	temps, err = tempFilesOf(dir, base)
	if err != nil {
		return rep, s.fail("purge", key, err)
	}
	if len(temps) > 0 {
		return rep, s.fail("purge", key, detail(fmt.Sprintf("%d temporary files of the key are still in %s", len(temps), dir), ErrNotPurged))
	}
	rep.Checks = append(rep.Checks, "temporary files "+filepath.Join(dir, "."+base+tmpMarker+"*")+": none")
	rep.VerifiedAt = time.Now().UTC()

	// Folders the object leaves empty go too, so that the folder of a
	// deleted workspace's backups does not outlive them. A folder that is
	// not empty, or that a Put just filled again, stays.
	for d := dir; d != s.root && strings.HasPrefix(d, s.root+string(filepath.Separator)); d = filepath.Dir(d) {
		if os.Remove(d) != nil {
			break
		}
	}
	return rep, nil
}

// tempFilesOf lists the temporary files of object name base in dir.
func tempFilesOf(dir, base string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if notExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if m := tmpName.FindStringSubmatch(e.Name()); m != nil && m[1] == base && !e.IsDir() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// walk visits the files under the folder a prefix lies in, with their key
// (for a temporary file, the key it was written for) and whether they are
// temporary files. Other dot files and folders are not the store's and are
// passed over.
func (s *fsStore) walk(ctx context.Context, prefix string, fn func(key, path string, tmp bool, d fs.DirEntry) error) error {
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && notExist(err) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != start && strings.HasPrefix(name, ".") {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key, tmp := filepath.ToSlash(rel), false
		if strings.HasPrefix(name, ".") {
			m := tmpName.FindStringSubmatch(name)
			if m == nil {
				return nil
			}
			key, tmp = path0(filepath.ToSlash(filepath.Dir(rel)), m[1]), true
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		return fn(key, p, tmp, d)
	})
	return err
}

// path0 joins a folder key ("." for the root) and a name.
func path0(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

func (s *fsStore) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, s.fail("list", prefix, err)
	}
	if err := s.checkRoot(); err != nil {
		return nil, s.fail("list", prefix, err)
	}
	var out []Object
	err := s.walk(ctx, prefix, func(key, _ string, tmp bool, d fs.DirEntry) error {
		if tmp {
			return nil
		}
		info, err := d.Info()
		if notExist(err) {
			return nil // deleted while we walked
		}
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, s.fail("list", prefix, err)
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (s *fsStore) Cleanup(ctx context.Context, prefix string, olderThan time.Duration) (CleanupReport, error) {
	rep := CleanupReport{Store: s.url, Prefix: prefix}
	if err := ValidatePrefix(prefix); err != nil {
		return rep, s.fail("cleanup", prefix, err)
	}
	if err := s.checkRoot(); err != nil {
		return rep, s.fail("cleanup", prefix, err)
	}
	cutoff := time.Now().Add(-olderThan)
	err := s.walk(ctx, prefix, func(key, p string, tmp bool, d fs.DirEntry) error {
		if !tmp {
			return nil
		}
		info, err := d.Info()
		if notExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if info.ModTime().After(cutoff) {
			rep.Kept++
			return nil
		}
		if err := os.Remove(p); err != nil && !notExist(err) {
			return err
		}
		rep.Removed = append(rep.Removed, Debris{Key: key, Kind: DebrisTempFile, Started: info.ModTime()})
		return nil
	})
	if err != nil {
		return rep, s.fail("cleanup", prefix, err)
	}
	return rep, nil
}
