package store

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// PartSize is the size of a multipart upload's first thousand parts. Every
// further thousand parts are twice as large, up to maxPartSize, so that
// S3's limit of 10,000 parts allows artifacts of about 2.4 TiB while a
// small one uses little memory (Put holds two parts).
const PartSize = 8 << 20

const (
	maxPartSize = 512 << 20
	maxParts    = 10000
	// abortTimeout bounds the cleanup after a failed Put, which runs
	// even when the Put's context is cancelled.
	abortTimeout = time.Minute
)

// partSizeFor is the size of part number num (from 1).
func partSizeFor(num int) int {
	size := PartSize << ((num - 1) / 1000)
	return min(size, maxPartSize)
}

// s3Store keeps each object at <prefix>/<key> in a bucket.
type s3Store struct {
	core   *minio.Core
	bucket string
	prefix string // "" or ending in "/"
	url    string
	red    redactor
}

func newS3(l Location, c Credentials) (*s3Store, error) {
	if c.Empty() {
		return nil, fmt.Errorf("%w: an s3 store needs an access key and a secret key (a credentials file, or %s and %s)", ErrNoCredentials, EnvAccessKeyID, EnvSecretAccessKey)
	}
	host, secure, lookup := "s3.amazonaws.com", true, minio.BucketLookupAuto
	region := l.Region
	if region == "" {
		region = c.Region
	}
	if l.Endpoint != "" {
		u, err := url.Parse(l.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("%w: endpoint", ErrInvalidURL)
		}
		host, secure, lookup = u.Host, u.Scheme == "https", minio.BucketLookupPath
		if region == "" {
			region = "us-east-1"
		}
	}
	core, err := minio.NewCore(host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		Secure:       secure,
		Region:       region,
		BucketLookup: lookup,
		Transport:    transport(),
		// A few retries ride out a blip; an outage must surface within
		// seconds, as a condition, not as a reconcile stuck in backoff.
		MaxRetries: 4,
	})
	red := newRedactor(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidURL, red.redact(err.Error()))
	}
	s := &s3Store{core: core, bucket: l.Bucket, url: l.String(), red: red}
	if l.Prefix != "" {
		s.prefix = l.Prefix + "/"
	}
	return s, nil
}

func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 16
	return t
}

func (s *s3Store) URL() string { return s.url }

// name maps a key to its object name, after checking the key.
func (s *s3Store) name(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// fail wraps a backend error with the operation, after reducing it to
// redacted text and the sentinels it matches.
func (s *s3Store) fail(op, key string, err error) error {
	return &Error{Op: op, Store: s.url, Key: key, Err: s.classify(err)}
}

// classify turns a backend error into one of this package's errors. Errors
// of this package and the caller's reader pass through.
func (s *s3Store) classify(err error) error {
	var de *detailError
	var re *readError
	var se *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se.Err
	case errors.As(err, &de), errors.As(err, &re):
		return err
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrNotFound), errors.Is(err, ErrNotPurged):
		return err
	}
	msg := s.red.redact(err.Error())
	switch {
	case errors.Is(err, context.Canceled):
		return &detailError{msg: msg, kinds: []error{context.Canceled}}
	case errors.Is(err, context.DeadlineExceeded):
		return &detailError{msg: msg, kinds: []error{context.DeadlineExceeded}}
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code != "" {
		msg = er.Code
		if er.Message != "" && er.Message != er.Code {
			msg += ": " + er.Message
		}
		msg = s.red.redact(msg)
		switch er.Code {
		case "NoSuchKey", "NotFound":
			return detail("", ErrNotFound)
		case "NoSuchBucket":
			return detail(s.bucket, ErrNoBucket)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled":
			return detail(msg, ErrAccessDenied)
		}
		if er.StatusCode >= 500 {
			return detail(msg, ErrUnreachable)
		}
		return detail(msg)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return detail(msg, ErrUnreachable)
	}
	return detail(msg)
}

// readError is the caller's reader failing: not the store's fault, and
// passed through whole, so that errors.Is sees the reader's own errors.
type readError struct{ err error }

func (e *readError) Error() string { return "reading the object's content: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

func (s *s3Store) Ping(ctx context.Context) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.fail("ping", "", err)
	}
	if !ok {
		return s.fail("ping", "", detail(s.bucket, ErrNoBucket))
	}
	return nil
}

// Put always uploads in parts, even a small object, so that the object
// appears only at CompleteMultipartUpload and every failure is undone the
// same way: by aborting the upload.
func (s *s3Store) Put(ctx context.Context, key string, r io.Reader) (Object, error) {
	name, err := s.name(key)
	if err != nil {
		return Object{}, s.fail("put", key, err)
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	uploadID, err := s.core.NewMultipartUpload(ctx, s.bucket, name, opts)
	if err != nil {
		return Object{}, s.fail("put", key, err)
	}
	parts, size, err := s.uploadParts(ctx, name, uploadID, r)
	completing := false
	if err == nil {
		completing = true
		_, err = s.core.CompleteMultipartUpload(ctx, s.bucket, name, uploadID, parts, opts)
	}
	var info minio.ObjectInfo
	if err == nil {
		info, err = s.core.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
		if err == nil && info.Size != size {
			err = detail(fmt.Sprintf("the store holds %d bytes after %d were sent", info.Size, size))
		}
	}
	if err == nil {
		return Object{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
	}
	err = s.classify(err)
	if uerr := s.undo(ctx, name, uploadID, completing); uerr != nil {
		err = &undoError{err: err, undo: s.classify(uerr)}
	}
	return Object{}, &Error{Op: "put", Store: s.url, Key: key, Err: err}
}

// uploadParts reads r into parts and uploads them, reading the next part
// while the previous one uploads. It returns the parts to complete and the
// total size.
func (s *s3Store) uploadParts(ctx context.Context, name, uploadID string, r io.Reader) ([]minio.CompletePart, int64, error) {
	type result struct {
		part minio.ObjectPart
		err  error
	}
	var (
		parts    []minio.CompletePart
		total    int64
		bufs     [2][]byte
		cur      int
		inflight chan result
	)
	// wait collects the part in flight, whose buffer is then free.
	wait := func() error {
		if inflight == nil {
			return nil
		}
		res := <-inflight
		inflight = nil
		if res.err != nil {
			return res.err
		}
		parts = append(parts, completePart(res.part))
		return nil
	}
	// No return leaves an upload running, with a buffer in use.
	defer func() { _ = wait() }()

	for num := 1; ; num++ {
		size := partSizeFor(num)
		if len(bufs[cur]) < size {
			bufs[cur] = make([]byte, size)
		}
		n, rerr := io.ReadFull(r, bufs[cur][:size])
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return nil, 0, &readError{rerr}
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		if num > maxParts && n > 0 {
			return nil, 0, detail(fmt.Sprintf("the object is larger than S3's %d-part limit allows", maxParts))
		}
		if err := wait(); err != nil {
			return nil, 0, err
		}
		// A part is sent if it has bytes, or if it is the only one: an
		// empty object is one empty part.
		if n > 0 || num == 1 {
			ch := make(chan result, 1)
			go func(num int, b []byte) {
				p, err := s.putPart(ctx, name, uploadID, num, b)
				ch <- result{p, err}
			}(num, bufs[cur][:n])
			inflight = ch
			total += int64(n)
		}
		if rerr != nil { // the end of r
			break
		}
		cur ^= 1
	}
	if err := wait(); err != nil {
		return nil, 0, err
	}
	return parts, total, nil
}

// partAttempts bounds the tries of one part.
const partAttempts = 4

// putPart uploads one part, retrying a network or server failure. The
// retries are this package's, not minio-go's: net/http may go on reading a
// request body after a failed round trip returns, so each attempt reads the
// buffer through a partReader of its own, fenced off once the attempt
// returns; only then may the buffer be reused for the next part.
// Content-MD5 has the store refuse a part that arrives altered.
func (s *s3Store) putPart(ctx context.Context, name, uploadID string, num int, b []byte) (minio.ObjectPart, error) {
	sum := md5.Sum(b)
	opts := minio.PutObjectPartOptions{Md5Base64: base64.StdEncoding.EncodeToString(sum[:])}
	var err error
	for attempt := range partAttempts {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
			case <-ctx.Done():
				return minio.ObjectPart{}, ctx.Err()
			}
		}
		body := &partReader{b: b}
		var p minio.ObjectPart
		p, err = s.core.PutObjectPart(ctx, s.bucket, name, uploadID, num, body, int64(len(b)), opts)
		body.fence()
		if err == nil {
			p.PartNumber = num
			return p, nil
		}
		if ctx.Err() != nil || !errors.Is(s.classify(err), ErrUnreachable) {
			break
		}
	}
	return minio.ObjectPart{}, err
}

// partReader reads a part's buffer until it is fenced. It is not an
// io.Seeker, so minio-go does not retry with it.
type partReader struct {
	mu     sync.Mutex
	b      []byte
	off    int
	fenced bool
}

var errFenced = errors.New("the part upload attempt is over")

func (r *partReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fenced {
		return 0, errFenced
	}
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

// fence makes every later Read fail, and waits for a Read in progress.
func (r *partReader) fence() {
	r.mu.Lock()
	r.fenced = true
	r.mu.Unlock()
}

func completePart(p minio.ObjectPart) minio.CompletePart {
	return minio.CompletePart{
		PartNumber:        p.PartNumber,
		ETag:              p.ETag,
		ChecksumCRC32:     p.ChecksumCRC32,
		ChecksumCRC32C:    p.ChecksumCRC32C,
		ChecksumSHA1:      p.ChecksumSHA1,
		ChecksumSHA256:    p.ChecksumSHA256,
		ChecksumCRC64NVME: p.ChecksumCRC64NVME,
	}
}

// undo removes what a failed Put left: it aborts the upload, with a context
// of its own since the Put's may be cancelled. If the upload is gone
// although Put had asked to complete it, the completion went through (its
// answer was lost, or the size check failed): the object at the key is this
// Put's, and it is deleted.
func (s *s3Store) undo(ctx context.Context, name, uploadID string, completing bool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	err := s.core.AbortMultipartUpload(ctx, s.bucket, name, uploadID)
	if err == nil {
		return nil
	}
	if minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return err
	}
	if !completing {
		return nil
	}
	return s.core.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{})
}

// undoError is a failed Put that could not be undone either.
type undoError struct{ err, undo error }

func (e *undoError) Error() string {
	return fmt.Sprintf("%v; and undoing the upload failed, so Cleanup must remove it later: %v", e.err, e.undo)
}

func (e *undoError) Unwrap() error { return e.err }

func (s *s3Store) Stat(ctx context.Context, key string) (Object, error) {
	name, err := s.name(key)
	if err != nil {
		return Object{}, s.fail("stat", key, err)
	}
	info, err := s.core.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.fail("stat", key, err)
	}
	return Object{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := s.name(key)
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	return &s3Body{ReadCloser: body, s: s, key: key}, nil
}

// s3Body redacts and classifies the errors of a download in progress.
type s3Body struct {
	io.ReadCloser
	s   *s3Store
	key string
}

func (b *s3Body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.s.fail("get", b.key, err)
	}
	return n, err
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	name, err := s.name(key)
	if err != nil {
		return s.fail("delete", key, err)
	}
	if err := s.core.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		return s.fail("delete", key, err)
	}
	return nil
}

// uploadsOf lists the incomplete multipart uploads to exactly name.
func (s *s3Store) uploadsOf(ctx context.Context, name string) ([]minio.ObjectMultipartInfo, error) {
	all, err := s.uploadsUnder(ctx, name)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(u minio.ObjectMultipartInfo) bool { return u.Key != name }), nil
}

// uploadsUnder lists the incomplete multipart uploads whose object names
// start with prefix. The listing is complete before anything is aborted,
// since aborting under a paginated listing can shift its markers.
func (s *s3Store) uploadsUnder(ctx context.Context, prefix string) ([]minio.ObjectMultipartInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []minio.ObjectMultipartInfo
	for u := range s.core.ListIncompleteUploads(ctx, s.bucket, prefix, true) {
		if u.Err != nil {
			return nil, u.Err
		}
		out = append(out, u)
	}
	return out, nil
}

// versioned says whether the bucket keeps versions, in which case a plain
// delete only hides an object behind a delete marker.
func (s *s3Store) versioned(ctx context.Context) (bool, string, error) {
	cfg, err := s.core.GetBucketVersioning(ctx, s.bucket)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NotImplemented" {
			return false, "bucket versioning: not supported by the server, so a delete removes the object", nil
		}
		return false, "", err
	}
	switch cfg.Status {
	case "Enabled", "Suspended":
		return true, "bucket versioning: " + cfg.Status + ", so every version of the key is deleted", nil
	}
	return false, "bucket versioning: off, so a delete removes the object", nil
}

// versionsOf lists every version and delete marker of exactly name.
func (s *s3Store) versionsOf(ctx context.Context, name string) ([]minio.ObjectInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []minio.ObjectInfo
	for o := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: name, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			return nil, o.Err
		}
		if o.Key == name {
			out = append(out, o)
		}
	}
	return out, nil
}

func (s *s3Store) Purge(ctx context.Context, key string) (PurgeReport, error) {
	rep := PurgeReport{Store: s.url, Key: key}
	name, err := s.name(key)
	if err != nil {
		return rep, s.fail("purge", key, err)
	}
	obj, err := s.Stat(ctx, key)
	switch {
	case err == nil:
		rep.Existed, rep.Size = true, obj.Size
	case !errors.Is(err, ErrNotFound):
		return rep, s.fail("purge", key, err)
	}
	uploads, err := s.uploadsOf(ctx, name)
	if err != nil {
		return rep, s.fail("purge", key, err)
	}
	for _, u := range uploads {
		err := s.core.AbortMultipartUpload(ctx, s.bucket, name, u.UploadID)
		if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			return rep, s.fail("purge", key, err)
		}
		rep.AbortedUploads++
	}
	versioned, versioning, err := s.versioned(ctx)
	if err != nil {
		return rep, s.fail("purge", key, err)
	}
	if versioned {
		versions, err := s.versionsOf(ctx, name)
		if err != nil {
			return rep, s.fail("purge", key, err)
		}
		for _, v := range versions {
			if err := s.core.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{VersionID: v.VersionID}); err != nil {
				return rep, s.fail("purge", key, err)
			}
			rep.RemovedVersions++
		}
	} else if err := s.core.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		return rep, s.fail("purge", key, err)
	}

	// The checks, from scratch.
	rep.Checks = append(rep.Checks, versioning)
	if _, err := s.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
		if err == nil {
			err = detail("HEAD still finds the object", ErrNotPurged)
		}
		return rep, s.fail("purge", key, err)
	}
	rep.Checks = append(rep.Checks, fmt.Sprintf("HEAD %s/%s: NotFound", s.bucket, name))
	if uploads, err := s.uploadsOf(ctx, name); err != nil || len(uploads) > 0 {
		if err == nil {
			err = detail(fmt.Sprintf("%d multipart uploads to the key are still listed", len(uploads)), ErrNotPurged)
		}
		return rep, s.fail("purge", key, err)
	}
	rep.Checks = append(rep.Checks, fmt.Sprintf("ListMultipartUploads %s prefix %s: no upload to the key", s.bucket, name))
	if versioned {
		if versions, err := s.versionsOf(ctx, name); err != nil || len(versions) > 0 {
			if err == nil {
				err = detail(fmt.Sprintf("%d versions of the key are still listed", len(versions)), ErrNotPurged)
			}
			return rep, s.fail("purge", key, err)
		}
		rep.Checks = append(rep.Checks, fmt.Sprintf("ListObjectVersions %s prefix %s: no version of the key", s.bucket, name))
	}
	rep.VerifiedAt = time.Now().UTC()
	return rep, nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, s.fail("list", prefix, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []Object
	for o := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, s.fail("list", prefix, o.Err)
		}
		out = append(out, Object{Key: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size, ModTime: o.LastModified})
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func (s *s3Store) Cleanup(ctx context.Context, prefix string, olderThan time.Duration) (CleanupReport, error) {
	rep := CleanupReport{Store: s.url, Prefix: prefix}
	if err := ValidatePrefix(prefix); err != nil {
		return rep, s.fail("cleanup", prefix, err)
	}
	uploads, err := s.uploadsUnder(ctx, s.prefix+prefix)
	if err != nil {
		return rep, s.fail("cleanup", prefix, err)
	}
	cutoff := time.Now().Add(-olderThan)
	for _, u := range uploads {
		if u.Initiated.After(cutoff) {
			rep.Kept++
			continue
		}
		err := s.core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID)
		if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			return rep, s.fail("cleanup", prefix, err)
		}
		rep.Removed = append(rep.Removed, Debris{Key: strings.TrimPrefix(u.Key, s.prefix), Kind: DebrisMultipartUpload, Started: u.Initiated})
	}
	return rep, nil
}
