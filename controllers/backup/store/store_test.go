package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/switchboard-dev/switchboard/controllers/backup/store"
	"github.com/switchboard-dev/switchboard/test/harness"
)

// The S3 tests run against one versitygw for the package, started on first
// use; each test gets its own bucket, so that its checks of the folder on
// disk see only its own files.
var (
	s3Once sync.Once
	s3Srv  *harness.S3
	s3Err  error
	s3Dir  string
	bucket atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3Srv.Close()
	if s3Dir != "" {
		os.RemoveAll(s3Dir)
	}
	os.Exit(code)
}

// gateway is the package's versitygw. A missing bin/versitygw fails the
// test with the command that builds it; it never skips.
func gateway(t *testing.T) *harness.S3 {
	t.Helper()
	s3Once.Do(func() {
		s3Dir, s3Err = os.MkdirTemp("", "switchboard-s3-")
		if s3Err == nil {
			s3Srv, s3Err = harness.StartS3(s3Dir, "switchboard-0")
		}
	})
	if s3Err != nil {
		t.Fatalf("starting versitygw: %v", s3Err)
	}
	return s3Srv
}

// fixture is one store under test, with a view of what it keeps on disk.
type fixture struct {
	st store.Store
	// disk is the folder the store's files are in: the file store's root,
	// or the gateway's folder for the bucket.
	disk string
	// prefix is where keys live under disk ("" or ending in "/").
	prefix string
	// plant leaves the debris a crash in the middle of a Put to key would
	// leave.
	plant func(t *testing.T, key string)
	// gw is the gateway (S3 only).
	gw     *harness.S3
	bucket string
}

type kind struct {
	name string
	open func(t *testing.T) *fixture
}

var kinds = []kind{
	{"file", openFile},
	{"s3", openS3},
}

func openFile(t *testing.T) *fixture {
	root := t.TempDir()
	st, err := store.Open("file://"+root, store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, disk: root, plant: func(t *testing.T, key string) {
		p := filepath.Join(root, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".tmp-1234567")
		if err := os.WriteFile(tmp, bytes.Repeat([]byte{1}, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
	}}
}

func openS3(t *testing.T) *fixture {
	gw := gateway(t)
	b := fmt.Sprintf("switchboard-%d", bucket.Add(1))
	if err := gw.CreateBucket(b); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(gw.StoreURL(b, "backups/eu"), store.Credentials{AccessKeyID: gw.AccessKey, SecretAccessKey: gw.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, disk: gw.BucketDir(b), prefix: "backups/eu/", gw: gw, bucket: b,
		plant: func(t *testing.T, key string) {
			// A multipart upload begun, a part sent, and then the
			// process gone: no complete, no abort.
			c, err := gw.Client()
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			id, err := c.NewMultipartUpload(ctx, b, "backups/eu/"+key, minio.PutObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			part := bytes.Repeat([]byte{1}, 5<<20)
			if _, err := c.PutObjectPart(ctx, b, "backups/eu/"+key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
				t.Fatal(err)
			}
		}}
}

// forEach runs a test on each kind of store.
func forEach(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { test(t, k.open(t)) })
	}
}

// files lists every regular file under the store's folder on disk, hidden
// ones (temporary files, versitygw's .sgwtmp) included.
func (f *fixture) files(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(f.disk, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(f.disk, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// uploads lists the incomplete multipart uploads in the bucket (S3 only).
func (f *fixture) uploads(t *testing.T) []string {
	t.Helper()
	if f.gw == nil {
		return nil
	}
	c, err := f.gw.Client()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for u := range c.ListIncompleteUploads(context.Background(), f.bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		out = append(out, u.Key+" "+u.UploadID)
	}
	return out
}

// assertClean fails unless the store's disk holds exactly want (keys) and
// no upload is pending.
func (f *fixture) assertClean(t *testing.T, want ...string) {
	t.Helper()
	var wantFiles []string
	for _, k := range want {
		wantFiles = append(wantFiles, f.prefix+k)
	}
	got := f.files(t)
	if strings.Join(got, "\n") != strings.Join(wantFiles, "\n") {
		t.Errorf("files on disk under %s:\n got %q\nwant %q", f.disk, got, wantFiles)
	}
	if u := f.uploads(t); len(u) > 0 {
		t.Errorf("incomplete multipart uploads left: %q", u)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, tc := range []struct {
			key  string
			size int
		}{
			{"ws-empty/2026-12-02T030000Z.sbk", 0},
			{"ws-small/2026-12-02T030000Z.sbk", 1000},
			// Two parts, the second short.
			{"ws-large/2026-12-02T030000Z.sbk", 12 << 20},
			// Exactly two parts: no empty third one.
			{"ws-exact/2026-12-02T030000Z.sbk", 2 * store.PartSize},
		} {
			body := randomBytes(t, tc.size)
			// A reader that hides its size, as a pipe from pg_dump does.
			obj, err := f.st.Put(ctx, tc.key, io.MultiReader(bytes.NewReader(body)))
			if err != nil {
				t.Fatalf("Put %s (%d bytes): %v", tc.key, tc.size, err)
			}
			if obj.Key != tc.key || obj.Size != int64(tc.size) || obj.ModTime.IsZero() {
				t.Errorf("Put %s: got %+v", tc.key, obj)
			}
			st, err := f.st.Stat(ctx, tc.key)
			if err != nil || st.Size != int64(tc.size) || st.Key != tc.key {
				t.Errorf("Stat %s: %+v, %v", tc.key, st, err)
			}
			rc, err := f.st.Get(ctx, tc.key)
			if err != nil {
				t.Fatalf("Get %s: %v", tc.key, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("reading %s: %v", tc.key, err)
			}
			if sha256.Sum256(got) != sha256.Sum256(body) {
				t.Errorf("Get %s: %d bytes differ from the %d put", tc.key, len(got), len(body))
			}
		}
		// Put replaces.
		if _, err := f.st.Put(ctx, "ws-small/2026-12-02T030000Z.sbk", strings.NewReader("again")); err != nil {
			t.Fatal(err)
		}
		if st, err := f.st.Stat(ctx, "ws-small/2026-12-02T030000Z.sbk"); err != nil || st.Size != 5 {
			t.Errorf("Stat after replacing: %+v, %v", st, err)
		}
		f.assertClean(t, "ws-empty/2026-12-02T030000Z.sbk", "ws-exact/2026-12-02T030000Z.sbk",
			"ws-large/2026-12-02T030000Z.sbk", "ws-small/2026-12-02T030000Z.sbk")
	})
}

func TestStatNotFound(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if _, err := f.st.Put(ctx, "ws-a/x/one.sbk", strings.NewReader("1")); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"ws-a/missing.sbk", "ws-b/one.sbk", "ws-a/x", "ws-a/x/one.sbk/deeper"} {
			if _, err := f.st.Stat(ctx, key); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Stat %s: %v, want ErrNotFound", key, err)
			}
			if _, err := f.st.Get(ctx, key); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Get %s: %v, want ErrNotFound", key, err)
			}
		}
		var se *store.Error
		_, err := f.st.Stat(ctx, "ws-a/missing.sbk")
		if !errors.As(err, &se) || se.Op != "stat" || se.Key != "ws-a/missing.sbk" || se.Store != f.st.URL() {
			t.Errorf("Stat error %#v does not say the operation, key and store", err)
		}
	})
}

func TestList(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		keys := []string{"ws-a/1.sbk", "ws-a/2.sbk", "ws-a/sub/3.sbk", "ws-ab/1.sbk", "ws-b/1.sbk", "top.sbk"}
		for i, k := range keys {
			if _, err := f.st.Put(ctx, k, bytes.NewReader(make([]byte, i))); err != nil {
				t.Fatal(err)
			}
		}
		// Debris is not listed.
		f.plant(t, "ws-a/crashed.sbk")
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"", []string{"top.sbk", "ws-a/1.sbk", "ws-a/2.sbk", "ws-a/sub/3.sbk", "ws-ab/1.sbk", "ws-b/1.sbk"}},
			{"ws-a/", []string{"ws-a/1.sbk", "ws-a/2.sbk", "ws-a/sub/3.sbk"}},
			{"ws-a", []string{"ws-a/1.sbk", "ws-a/2.sbk", "ws-a/sub/3.sbk", "ws-ab/1.sbk"}},
			{"ws-a/sub/", []string{"ws-a/sub/3.sbk"}},
			{"ws-a/s", []string{"ws-a/sub/3.sbk"}},
			{"ws-c/", nil},
			{"nothing/here/", nil},
		} {
			objs, err := f.st.List(ctx, tc.prefix)
			if err != nil {
				t.Fatalf("List %q: %v", tc.prefix, err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.Key)
				if o.ModTime.IsZero() {
					t.Errorf("List %q: %s has no ModTime", tc.prefix, o.Key)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("List %q = %q, want %q", tc.prefix, got, tc.want)
			}
		}
		objs, _ := f.st.List(ctx, "ws-a/2")
		if len(objs) != 1 || objs[0].Size != 1 {
			t.Errorf("List ws-a/2: %+v, want one object of 1 byte", objs)
		}
	})
}

func TestDelete(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, k := range []string{"ws-a/1.sbk", "ws-a/2.sbk"} {
			if _, err := f.st.Put(ctx, k, strings.NewReader(k)); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.st.Delete(ctx, "ws-a/1.sbk"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Stat(ctx, "ws-a/1.sbk"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat after Delete: %v, want ErrNotFound", err)
		}
		// Deleting what is not there is not an error.
		for _, k := range []string{"ws-a/1.sbk", "ws-z/never.sbk", "ws-a"} {
			if err := f.st.Delete(ctx, k); err != nil {
				t.Errorf("Delete %s: %v", k, err)
			}
		}
		f.assertClean(t, "ws-a/2.sbk")
	})
}

func TestPurge(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		key := "ws-gone/2026-12-02T030000Z.sbk"
		body := randomBytes(t, 12<<20)
		if _, err := f.st.Put(ctx, key, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.Put(ctx, "ws-kept/1.sbk", strings.NewReader("kept")); err != nil {
			t.Fatal(err)
		}
		// Debris of an earlier, crashed attempt at the same key goes too.
		f.plant(t, key)

		rep, err := f.st.Purge(ctx, key)
		if err != nil {
			t.Fatalf("Purge: %v", err)
		}
		if !rep.Existed || rep.Size != int64(len(body)) || rep.Key != key || rep.Store != f.st.URL() || rep.VerifiedAt.IsZero() {
			t.Errorf("report %+v", rep)
		}
		if rep.AbortedUploads+rep.RemovedTempFiles != 1 {
			t.Errorf("report %+v: want the planted upload or temporary file removed", rep)
		}
		checks := strings.Join(rep.Checks, "\n")
		if !strings.Contains(checks, "NotFound") {
			t.Errorf("the report's checks do not include the stat: %q", rep.Checks)
		}
		if f.gw != nil && !strings.Contains(checks, "ListMultipartUploads") {
			t.Errorf("the report's checks do not include the multipart listing: %q", rep.Checks)
		}
		t.Logf("purge report: %+v", rep)

		// Physically gone: the file, the parts under .sgwtmp, the
		// temporary file; the other object stays.
		f.assertClean(t, "ws-kept/1.sbk")
		if f.gw == nil {
			if _, err := os.Stat(filepath.Join(f.disk, "ws-gone")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the emptied folder of the key stays: %v", err)
			}
		}

		// Purging again: nothing existed, still verified.
		rep, err = f.st.Purge(ctx, key)
		if err != nil || rep.Existed || rep.VerifiedAt.IsZero() {
			t.Errorf("second Purge: %+v, %v", rep, err)
		}
	})
}

// failingReader gives n bytes, then fails.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

// cancellingReader cancels its context once n bytes were read, then goes
// on giving bytes, as a dump that does not watch the context would.
type cancellingReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		r.cancel()
	}
	k := len(p)
	if r.n > 0 {
		k = min(k, r.n)
	}
	clear(p[:k])
	r.n -= k
	return k, nil
}

func TestPutCrashLeavesNothing(t *testing.T) {
	errDump := errors.New("pg_dump: exited with status 1")
	forEach(t, func(t *testing.T, f *fixture) {
		// A good object at the key must survive a failed replacement.
		if _, err := f.st.Put(context.Background(), "ws-a/kept.sbk", strings.NewReader("kept")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			put  func(key string) error
			want error
		}{
			{"cancel after 10 MiB", func(key string) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, err := f.st.Put(ctx, key, &cancellingReader{n: 10 << 20, cancel: cancel})
				return err
			}, context.Canceled},
			{"cancel before the first part ends", func(key string) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, err := f.st.Put(ctx, key, &cancellingReader{n: 1 << 20, cancel: cancel})
				return err
			}, context.Canceled},
			{"deadline mid-upload", func(key string) error {
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				_, err := f.st.Put(ctx, key, io.MultiReader(&slowReader{n: 20 << 20, delay: 20 * time.Millisecond}))
				return err
			}, context.DeadlineExceeded},
			{"reader fails after 9 MiB", func(key string) error {
				_, err := f.st.Put(context.Background(), key, &failingReader{n: 9 << 20, err: errDump})
				return err
			}, errDump},
			{"reader fails at once", func(key string) error {
				_, err := f.st.Put(context.Background(), key, &failingReader{err: errDump})
				return err
			}, errDump},
		} {
			for _, key := range []string{"ws-a/crash.sbk", "ws-a/kept.sbk"} {
				err := tc.put(key)
				if !errors.Is(err, tc.want) {
					t.Errorf("%s, %s: Put = %v, want %v", tc.name, key, err, tc.want)
				}
			}
		}
		if _, err := f.st.Stat(context.Background(), "ws-a/crash.sbk"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Stat after the failed Puts: %v", err)
		}
		rc, err := f.st.Get(context.Background(), "ws-a/kept.sbk")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "kept" {
			t.Errorf("the object a Put failed to replace now reads %d bytes", len(b))
		}
		f.assertClean(t, "ws-a/kept.sbk")
	})
}

// slowReader gives n bytes, 1 MiB at a time with a delay before each.
type slowReader struct {
	n     int
	delay time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.delay)
	k := min(len(p), r.n, 1<<20)
	clear(p[:k])
	r.n -= k
	return k, nil
}

func TestCleanup(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		if _, err := f.st.Put(ctx, "ws-a/good.sbk", strings.NewReader("good")); err != nil {
			t.Fatal(err)
		}
		f.plant(t, "ws-a/crashed.sbk")
		f.plant(t, "ws-b/crashed.sbk")

		// Young debris may be a Put in progress: it stays.
		rep, err := f.st.Cleanup(ctx, "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Removed) != 0 || rep.Kept != 2 {
			t.Errorf("Cleanup(1h) = %+v, want 2 kept and none removed", rep)
		}
		if f.gw == nil {
			// The file store judges age by the file's time.
			old := time.Now().Add(-2 * time.Hour)
			tmp := filepath.Join(f.disk, "ws-a", ".crashed.sbk.tmp-1234567")
			if err := os.Chtimes(tmp, old, old); err != nil {
				t.Fatal(err)
			}
			rep, err = f.st.Cleanup(ctx, "ws-a/", time.Hour)
		} else {
			time.Sleep(10 * time.Millisecond)
			rep, err = f.st.Cleanup(ctx, "ws-a/", time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Removed) != 1 || rep.Removed[0].Key != "ws-a/crashed.sbk" || rep.Removed[0].Started.IsZero() {
			t.Errorf("Cleanup(ws-a/) = %+v, want ws-a/crashed.sbk removed", rep)
		}
		t.Logf("cleanup report: %+v", rep)
		if _, err := f.st.Cleanup(ctx, "", 0); err != nil {
			t.Fatal(err)
		}
		f.assertClean(t, "ws-a/good.sbk")
	})
}

func TestKeysCannotEscape(t *testing.T) {
	bad := []string{
		"", "/etc/passwd", "../x", "ws-a/../../x", "ws-a/./x", "ws-a//x", "ws-a/", ".x",
		"ws-a/.x.tmp-1", "ws a/x", "ws-a\\..\\x", "ws-a/x\x00", "ws-ä/x", "..", ".",
		strings.Repeat("a", store.MaxKeyLen+1),
	}
	forEach(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		for _, key := range bad {
			if _, err := f.st.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Put %q: %v, want ErrInvalidKey", key, err)
			}
			if _, err := f.st.Stat(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Stat %q: %v", key, err)
			}
			if _, err := f.st.Get(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Get %q: %v", key, err)
			}
			if err := f.st.Delete(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Delete %q: %v", key, err)
			}
			if _, err := f.st.Purge(ctx, key); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Purge %q: %v", key, err)
			}
		}
		for _, prefix := range []string{"/", "../", "ws-a/../", ".sgwtmp/", "ws-a//"} {
			if _, err := f.st.List(ctx, prefix); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("List %q: %v", prefix, err)
			}
			if _, err := f.st.Cleanup(ctx, prefix, 0); !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("Cleanup %q: %v", prefix, err)
			}
		}
		f.assertClean(t)
	})
}

func TestFileStoreNeedsItsFolder(t *testing.T) {
	root := filepath.Join(t.TempDir(), "not-mounted")
	st, err := store.Open("file://"+root, store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Ping(ctx); !errors.Is(err, store.ErrUnreachable) || !strings.Contains(err.Error(), "mounted") {
		t.Errorf("Ping: %v, want ErrUnreachable asking whether the volume is mounted", err)
	}
	if _, err := st.Put(ctx, "ws-a/x.sbk", strings.NewReader("x")); !errors.Is(err, store.ErrUnreachable) {
		t.Errorf("Put: %v, want ErrUnreachable", err)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Put created the store's folder: %v", err)
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping once the folder is there: %v", err)
	}
}

func TestS3Outage(t *testing.T) {
	gateway(t) // fails clearly if bin/versitygw is missing
	gw, err := harness.StartS3(t.TempDir(), "outage")
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	creds := store.Credentials{AccessKeyID: gw.AccessKey, SecretAccessKey: gw.SecretKey}
	st, err := store.Open(gw.StoreURL("outage", ""), creds)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Put(ctx, "ws-a/before.sbk", strings.NewReader("before")); err != nil {
		t.Fatal(err)
	}

	gw.Stop()
	checkErr := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrUnreachable) {
			t.Errorf("%s during the outage: %v, want ErrUnreachable", op, err)
			return
		}
		msg := err.Error()
		if !strings.Contains(msg, "unreachable") || !strings.Contains(msg, st.URL()) {
			t.Errorf("%s: %q does not say which store is unreachable", op, msg)
		}
		for _, secret := range []string{gw.SecretKey, gw.AccessKey} {
			if strings.Contains(msg, secret) {
				t.Errorf("%s: the error shows a credential: %q", op, msg)
			}
		}
	}
	start := time.Now()
	checkErr("Ping", st.Ping(ctx))
	_, err = st.Put(ctx, "ws-a/during.sbk", strings.NewReader("during"))
	checkErr("Put", err)
	_, err = st.Stat(ctx, "ws-a/before.sbk")
	checkErr("Stat", err)
	_, err = st.Get(ctx, "ws-a/before.sbk")
	checkErr("Get", err)
	_, err = st.List(ctx, "")
	checkErr("List", err)
	_, err = st.Purge(ctx, "ws-a/before.sbk")
	checkErr("Purge", err)
	_, err = st.Cleanup(ctx, "", time.Hour)
	checkErr("Cleanup", err)
	t.Logf("outage error: %v", err)
	if d := time.Since(start); d > time.Minute {
		t.Errorf("the outage took %s to surface", d)
	}

	// Recovery: the same store works again, and kept its object.
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping after recovery: %v", err)
	}
	if o, err := st.Stat(ctx, "ws-a/before.sbk"); err != nil || o.Size != 6 {
		t.Errorf("Stat after recovery: %+v, %v", o, err)
	}
	if _, err := st.Put(ctx, "ws-a/after.sbk", strings.NewReader("after")); err != nil {
		t.Errorf("Put after recovery: %v", err)
	}
}

// TestS3WrongCredentials: a refused signature is ErrAccessDenied, and the
// error shows neither key.
func TestS3WrongCredentials(t *testing.T) {
	gw := gateway(t)
	creds := store.Credentials{AccessKeyID: gw.AccessKey, SecretAccessKey: "wrong-secret-0123456789abcdef"}
	st, err := store.Open(gw.StoreURL(gw.Bucket, ""), creds)
	if err != nil {
		t.Fatal(err)
	}
	for op, err := range map[string]error{
		"Ping": st.Ping(context.Background()),
		"Put":  func() error { _, err := st.Put(context.Background(), "ws-a/x.sbk", strings.NewReader("x")); return err }(),
		"Stat": func() error { _, err := st.Stat(context.Background(), "ws-a/x.sbk"); return err }(),
	} {
		if !errors.Is(err, store.ErrAccessDenied) {
			t.Errorf("%s: %v, want ErrAccessDenied", op, err)
			continue
		}
		if strings.Contains(err.Error(), creds.SecretAccessKey) || strings.Contains(err.Error(), creds.AccessKeyID) {
			t.Errorf("%s: the error shows a credential: %v", op, err)
		}
	}
	unknown, err := store.Open(gw.StoreURL("no-such-bucket", ""), store.Credentials{AccessKeyID: gw.AccessKey, SecretAccessKey: gw.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := unknown.Ping(context.Background()); !errors.Is(err, store.ErrNoBucket) {
		t.Errorf("Ping of a missing bucket: %v, want ErrNoBucket", err)
	}
}

// TestS3OutageMidUpload: the gateway goes away in the middle of a Put, so
// the Put cannot abort its upload. The error says so; once the gateway is
// back, Cleanup removes the upload and its parts.
func TestS3OutageMidUpload(t *testing.T) {
	gateway(t)
	gw, err := harness.StartS3(t.TempDir(), "outage")
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	st, err := store.Open(gw.StoreURL("outage", ""), store.Credentials{AccessKeyID: gw.AccessKey, SecretAccessKey: gw.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = st.Put(ctx, "ws-a/x.sbk", &stoppingReader{n: 20 << 20, at: 12 << 20, stop: gw.Stop})
	if !errors.Is(err, store.ErrUnreachable) || !strings.Contains(err.Error(), "Cleanup") {
		t.Fatalf("Put across an outage: %v, want ErrUnreachable saying Cleanup must remove the upload", err)
	}
	t.Logf("put error: %v", err)
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, disk: gw.BucketDir("outage"), gw: gw, bucket: "outage"}
	if len(f.uploads(t)) != 1 {
		t.Fatalf("uploads after the outage: %q, want the one the Put could not abort", f.uploads(t))
	}
	rep, err := st.Cleanup(ctx, "ws-a/", 0)
	if err != nil || len(rep.Removed) != 1 || rep.Removed[0].Key != "ws-a/x.sbk" {
		t.Errorf("Cleanup: %+v, %v", rep, err)
	}
	f.assertClean(t)
}

// stoppingReader gives n bytes and calls stop once at bytes have been read.
type stoppingReader struct {
	n, at int
	read  int
	stop  func()
}

func (r *stoppingReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	if r.stop != nil && r.read >= r.at {
		r.stop()
		r.stop = nil
	}
	k := min(len(p), r.n-r.read)
	clear(p[:k])
	r.read += k
	return k, nil
}

// TestS3ErrorsRedactCredentials: a server that echoes the request's
// credentials in its error text does not get them into an error.
func TestS3ErrorsRedactCredentials(t *testing.T) {
	creds := store.Credentials{AccessKeyID: "AKIAEXAMPLEKEY", SecretAccessKey: "secretsecretsecret", SessionToken: "sessiontokenvalue"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<Error><Code>AccessDenied</Code><Message>denied: %s %s %s</Message></Error>",
			r.Header.Get("Authorization"), r.Header.Get("X-Amz-Security-Token"), creds.SecretAccessKey)
	}))
	defer srv.Close()
	st, err := store.Open("s3://bucket?insecure=true&endpoint="+srv.URL, creds)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Put(context.Background(), "ws-a/x.sbk", strings.NewReader("x"))
	if !errors.Is(err, store.ErrAccessDenied) {
		t.Fatalf("Put: %v, want ErrAccessDenied", err)
	}
	for e := error(err); e != nil; e = errors.Unwrap(e) {
		for _, secret := range []string{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken} {
			if strings.Contains(e.Error(), secret) {
				t.Errorf("%q shows a credential", e.Error())
			}
		}
	}
	if !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("%q: the server's message is not there, redacted", err)
	}
}

// TestPutStreams: Put sends data to the store while the reader is still
// producing it, instead of gathering the whole object first.
func TestPutStreams(t *testing.T) {
	forEach(t, func(t *testing.T, f *fixture) {
		const first = 3 * store.PartSize
		paused := make(chan struct{})
		r := &pausingReader{n: 5 * store.PartSize, pauseAt: first, paused: paused, resume: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := f.st.Put(context.Background(), "ws-a/stream.sbk", r)
			done <- err
		}()
		select {
		case <-paused:
		case err := <-done:
			t.Fatalf("Put ended before the reader paused: %v", err)
		}
		// While the reader waits, what it gave must already be in the
		// store, all but the part being read ahead.
		var stored int64
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			stored = f.inFlight(t, "ws-a/stream.sbk")
			if stored >= first-store.PartSize {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if stored < first-store.PartSize {
			t.Errorf("with %d bytes read, the store holds %d of them", first, stored)
		}
		close(r.resume)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if o, err := f.st.Stat(context.Background(), "ws-a/stream.sbk"); err != nil || o.Size != 5*store.PartSize {
			t.Errorf("Stat: %+v, %v", o, err)
		}
		f.assertClean(t, "ws-a/stream.sbk")
	})
}

// inFlight is how many bytes of an unfinished Put to key the store holds:
// the size of the temporary file, or of the uploaded parts.
func (f *fixture) inFlight(t *testing.T, key string) int64 {
	t.Helper()
	var n int64
	if f.gw == nil {
		matches, _ := filepath.Glob(filepath.Join(f.disk, filepath.Dir(key), "."+filepath.Base(key)+".tmp-*"))
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil {
				n += st.Size()
			}
		}
		return n
	}
	c, err := f.gw.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for u := range c.ListIncompleteUploads(ctx, f.bucket, f.prefix+key, true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		parts, err := c.ListObjectParts(ctx, f.bucket, u.Key, u.UploadID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts.ObjectParts {
			n += p.Size
		}
	}
	return n
}

// pausingReader gives n zero bytes, pausing once pauseAt were given until
// resume is closed.
type pausingReader struct {
	n, pauseAt, read int
	paused, resume   chan struct{}
}

func (r *pausingReader) Read(p []byte) (int, error) {
	if r.read >= r.n {
		return 0, io.EOF
	}
	if r.read == r.pauseAt && r.paused != nil {
		close(r.paused)
		r.paused = nil
		<-r.resume
	}
	limit := r.n
	if r.read < r.pauseAt {
		limit = r.pauseAt
	}
	k := min(len(p), limit-r.read)
	clear(p[:k])
	r.read += k
	return k, nil
}
