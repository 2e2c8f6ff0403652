package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Region is the region the S3 server signs for.
const S3Region = "us-east-1"

// S3 is a versitygw v1.8.0 gateway (built into bin/) serving a POSIX folder
// as S3 on a loopback port: each bucket is a folder under Dir, each object a
// file, and the parts of an unfinished multipart upload sit under
// <Dir>/<bucket>/.sgwtmp/multipart until it is completed or aborted.
type S3 struct {
	Port int
	// Dir is the folder the gateway serves.
	Dir string
	// Bucket, the first bucket, exists once StartS3 returns.
	Bucket string
	// AccessKey and SecretKey are the root account's; the secret is new at
	// every StartS3, so that a test can look for it in error text.
	AccessKey, SecretKey string
	bin                  string
	proc                 *process
}

// StartS3 starts versitygw on a free port, serving dir (which it creates),
// and creates bucket. dir must be on a filesystem with user xattrs (ext4,
// xfs, a recent tmpfs), where versitygw keeps object metadata.
func StartS3(dir, bucket string) (*S3, error) {
	bin, err := Bin("versitygw")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := syscall.Setxattr(dir, "user.switchboard-test", []byte("1"), 0); err != nil {
		return nil, fmt.Errorf("harness: %s does not take user xattrs, which versitygw keeps its metadata in (%v): put the test's folder on ext4 or xfs (TMPDIR)", dir, err)
	}
	_ = syscall.Removexattr(dir, "user.switchboard-test")
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 20)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	s := &S3{Port: port, Dir: dir, Bucket: bucket, AccessKey: "switchboard-test", SecretKey: hex.EncodeToString(secret), bin: bin}
	if err := s.Start(); err != nil {
		return nil, err
	}
	if err := s.CreateBucket(bucket); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Start starts the gateway on its port; a restarted gateway serves the same
// folder, so it keeps every bucket and object.
func (s *S3) Start() error {
	cmd := exec.Command(s.bin, "--port", "127.0.0.1:"+strconv.Itoa(s.Port), "--quiet", "posix", s.Dir)
	cmd.Env = []string{"HOME=/tmp", "ROOT_ACCESS_KEY_ID=" + s.AccessKey, "ROOT_SECRET_ACCESS_KEY=" + s.SecretKey}
	p, err := startProcess(cmd, nil)
	if err != nil {
		return err
	}
	s.proc = p
	if err := waitTCP("127.0.0.1:"+strconv.Itoa(s.Port), 30*time.Second, p.exited); err != nil {
		s.Stop()
		return fmt.Errorf("harness: versitygw: %v:\n%s", err, p.log.String())
	}
	return nil
}

// Client is a client of the gateway as its root account, for a test to
// plant or inspect what the store under test would not.
func (s *S3) Client() (*minio.Core, error) {
	return minio.NewCore("127.0.0.1:"+strconv.Itoa(s.Port), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       S3Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
}

// CreateBucket creates a bucket (a folder under Dir); one that exists
// already is fine.
func (s *S3) CreateBucket(name string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: S3Region})
	if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
		return fmt.Errorf("harness: versitygw: creating bucket %s: %w\n%s", name, err, s.proc.log.String())
	}
	return nil
}

// Endpoint is the gateway's URL.
func (s *S3) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port) }

// StoreURL is a backup store URL for bucket, under prefix (may be empty).
func (s *S3) StoreURL(bucket, prefix string) string {
	u := "s3://" + bucket
	if prefix != "" {
		u += "/" + prefix
	}
	return u + "?endpoint=" + s.Endpoint() + "&region=" + S3Region + "&insecure=true"
}

// BucketDir is the folder that holds a bucket's objects.
func (s *S3) BucketDir(bucket string) string { return filepath.Join(s.Dir, bucket) }

// Stop stops the gateway; Start starts it again.
func (s *S3) Stop() {
	if s.proc != nil {
		s.proc.stop(syscall.SIGTERM, 10*time.Second)
	}
}

// Close stops the gateway.
func (s *S3) Close() {
	if s != nil {
		s.Stop()
	}
}

// Log is what the gateway printed lately.
func (s *S3) Log() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.log.String()
}
