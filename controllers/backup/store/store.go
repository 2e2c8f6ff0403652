// Package store keeps backup artifacts in a filesystem folder or an
// S3-compatible bucket, and proves their deletion.
//
// # Store URLs
//
// A store is named by a URL, which is what Backup.status records; it never
// holds a credential.
//
//	file:///var/lib/switchboard/backups
//	s3://bucket
//	s3://bucket/some/prefix?region=eu-west-1
//	s3://bucket/prefix?endpoint=https://s3.example.net&region=fr-par
//	s3://bucket/prefix?endpoint=http://minio.backup.svc:9000&insecure=true
//
// A file URL names an absolute folder, which must exist (it is usually a
// mounted volume: creating it would put backups on a container's own disk);
// the folders under it are created as needed. An s3 URL names a bucket,
// which must exist, and an optional key prefix. Its query takes:
//   - endpoint: the scheme and host of an S3-compatible server. Without it,
//     the store talks to Amazon S3. With it, requests are path-style
//     (https://host/bucket/key), which every S3-compatible server accepts.
//   - region: the signing region. Without it, the credentials' region, then
//     us-east-1 for a custom endpoint (Amazon S3 finds the bucket's own).
//   - insecure=true: required for, and only allowed with, an http endpoint.
//     It never turns off TLS certificate checks.
//
// Anything else in the URL is refused: user information (credentials do not
// go in URLs), unknown query parameters, a relative or unclean path.
//
// # Credentials
//
// An s3 store signs its requests with Credentials. LoadCredentials reads them
// from a mounted file or folder, or else from the usual AWS environment
// variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, optional
// AWS_SESSION_TOKEN, and AWS_REGION or AWS_DEFAULT_REGION). The file forms:
//
//   - A folder, such as a mounted Kubernetes Secret, holding one file per
//     value, named like the variables: AWS_ACCESS_KEY_ID,
//     AWS_SECRET_ACCESS_KEY, optional AWS_SESSION_TOKEN and AWS_REGION. The
//     same Secret can then also feed envFrom.
//   - A file in the AWS shared-credentials format: a [default] section (or
//     the file's only section, or no section header) with
//     aws_access_key_id, aws_secret_access_key, optional aws_session_token
//     and region.
//
// Credentials are read once, by LoadCredentials; a rotated Secret takes
// effect when the store is opened again.
//
// No error, URL or report of this package contains an access key, a secret
// key or a session token.
//
// # Keys
//
// A key is one or more segments joined by "/", at most MaxKeyLen bytes. A
// segment is made of ASCII letters, digits, '.', '_' and '-', and does not
// start with '.', so "..", a leading "/" and an empty segment are all
// refused, and a key cannot name a store's temporary files (which start
// with '.'). A key built from a workspace name therefore stays under the
// store's root or prefix.
//
// # Atomicity and debris
//
// Put streams: the S3 store holds two parts in memory (PartSize bytes each,
// larger only past 1,000 parts), reading one while it uploads the other. An
// object appears whole or not at all. The filesystem store writes a
// temporary file in the target folder, syncs it, renames it and syncs the
// folder; the S3 store always uses a multipart upload, even for an empty
// object, so the object appears only at CompleteMultipartUpload. When Put
// fails for any reason, including a cancelled context or a failing reader,
// it removes its temporary file or aborts its upload before it returns.
// Only a crash of the process, or a store that cannot be reached to abort,
// leaves debris, and Cleanup removes it.
//
// # Purge
//
// Purge is the delete a deletion receipt can cite: it removes the object,
// the upload debris of its key and, in a versioned bucket, every version,
// then checks from scratch that a stat answers NotFound, that no multipart
// upload to the key is listed (S3) and that no temporary file of the key is
// left (filesystem). The S3 credentials need s3:PutObject, s3:GetObject,
// s3:DeleteObject, s3:ListBucket, s3:ListBucketMultipartUploads,
// s3:AbortMultipartUpload and s3:GetBucketVersioning on the bucket (and
// s3:ListBucketVersions and s3:DeleteObjectVersion if it is versioned).
package store

import (
	"context"
	"io"
	"time"
)

// Store is a place for backup artifacts.
type Store interface {
	// Put streams r to key, replacing any object there. The object
	// appears only once r is read to its end without error; on any
	// failure nothing new is left behind (see the package doc).
	Put(ctx context.Context, key string, r io.Reader) (Object, error)
	// Stat describes the object at key, or returns an error matching
	// ErrNotFound.
	Stat(ctx context.Context, key string) (Object, error)
	// Get opens the object at key, or returns an error matching
	// ErrNotFound. The caller closes the reader.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object at key. Deleting a missing object is not
	// an error.
	Delete(ctx context.Context, key string) error
	// Purge removes the object at key and every trace of an upload to it,
	// then checks that they are physically gone. It returns an error
	// (matching ErrNotPurged if something is still there) unless every
	// check passed; the report says what was checked.
	Purge(ctx context.Context, key string) (PurgeReport, error)
	// List returns the objects whose keys start with prefix, sorted by
	// key. A prefix matches characters, not segments: "ws-a" also
	// matches "ws-ab/x"; pass "ws-a/" for one folder.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Cleanup removes debris under prefix that a crashed Put left behind:
	// incomplete multipart uploads, temporary files. It leaves debris
	// younger than olderThan alone, since a Put may still be writing it:
	// olderThan must exceed the longest backup.
	Cleanup(ctx context.Context, prefix string, olderThan time.Duration) (CleanupReport, error)
	// Ping checks that the store answers and that its bucket or folder is
	// there.
	Ping(ctx context.Context) error
	// URL is the store's URL, canonical and without credentials.
	URL() string
}

// Object describes a stored object.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// PurgeReport is what Purge did and checked, for a deletion receipt. It
// holds no credential.
type PurgeReport struct {
	// Store is the store's URL.
	Store string `json:"store"`
	Key   string `json:"key"`
	// Existed says whether an object was at the key when Purge began, and
	// Size how large it was.
	Existed bool  `json:"existed"`
	Size    int64 `json:"size,omitempty"`
	// AbortedUploads counts incomplete multipart uploads to the key that
	// Purge aborted (S3).
	AbortedUploads int `json:"abortedUploads,omitempty"`
	// RemovedVersions counts object versions Purge deleted in a versioned
	// bucket (S3).
	RemovedVersions int `json:"removedVersions,omitempty"`
	// RemovedTempFiles counts temporary files of the key that Purge
	// removed (filesystem).
	RemovedTempFiles int `json:"removedTempFiles,omitempty"`
	// Checks are the absence checks that passed, in order, each phrased
	// as the check and its answer.
	Checks []string `json:"checks"`
	// VerifiedAt is when the last check passed.
	VerifiedAt time.Time `json:"verifiedAt"`
}

// CleanupReport is what Cleanup removed and what it left.
type CleanupReport struct {
	Store  string `json:"store"`
	Prefix string `json:"prefix"`
	// Removed is the debris removed.
	Removed []Debris `json:"removed,omitempty"`
	// Kept counts debris younger than the cut-off, left alone.
	Kept int `json:"kept,omitempty"`
}

// Debris is one leftover of an interrupted Put.
type Debris struct {
	// Key is the object key the Put was writing.
	Key string `json:"key"`
	// Kind is "multipart upload" or "temporary file".
	Kind string `json:"kind"`
	// Started is when the upload was initiated or the file last written.
	Started time.Time `json:"started"`
}

// Debris kinds.
const (
	DebrisMultipartUpload = "multipart upload"
	DebrisTempFile        = "temporary file"
)

// Open opens the store that rawURL names (see the package doc). creds sign
// an s3 store's requests and are ignored by a file store. Open does not
// contact the store: Ping does.
func Open(rawURL string, creds Credentials) (Store, error) {
	l, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch l.Scheme {
	case "file":
		return newFS(l), nil
	default:
		return newS3(l, creds)
	}
}
