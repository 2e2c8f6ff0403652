package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/controllers/backup/store"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want store.Location
		// canon is the canonical URL, if not in.
		canon string
	}{
		{in: "file:///var/lib/switchboard/backups", want: store.Location{Scheme: "file", Path: "/var/lib/switchboard/backups"}},
		{in: "s3://bucket", want: store.Location{Scheme: "s3", Bucket: "bucket"}},
		{in: "s3://my.bucket-1/eu/backups/", canon: "s3://my.bucket-1/eu/backups",
			want: store.Location{Scheme: "s3", Bucket: "my.bucket-1", Prefix: "eu/backups"}},
		{in: "s3://b12/p?region=eu-west-1", want: store.Location{Scheme: "s3", Bucket: "b12", Prefix: "p", Region: "eu-west-1"}},
		{in: "s3://b12/p?endpoint=https://s3.example.net&region=fr-par",
			want: store.Location{Scheme: "s3", Bucket: "b12", Prefix: "p", Endpoint: "https://s3.example.net", Region: "fr-par"}},
		{in: "s3://b12?insecure=true&endpoint=http%3A%2F%2Fminio.backup.svc%3A9000%2F", canon: "s3://b12?endpoint=http://minio.backup.svc:9000&insecure=true",
			want: store.Location{Scheme: "s3", Bucket: "b12", Endpoint: "http://minio.backup.svc:9000", Insecure: true}},
		{in: "s3://b12?endpoint=https://[::1]:9000&insecure=false", canon: "s3://b12?endpoint=https://[::1]:9000",
			want: store.Location{Scheme: "s3", Bucket: "b12", Endpoint: "https://[::1]:9000"}},
	} {
		got, err := store.ParseURL(tc.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		canon := tc.canon
		if canon == "" {
			canon = tc.in
		}
		if got.String() != canon {
			t.Errorf("ParseURL(%q).String() = %q, want %q", tc.in, got.String(), canon)
		}
	}
}

func TestParseURLRefuses(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"", "scheme"},
		{"/var/lib/backups", "scheme"},
		{"http://bucket/x", "scheme"},
		{"file://host/var/lib", "absolute folder"},
		{"file:relative/path", "absolute folder"},
		{"file:///", "other than /"},
		{"file:///var/lib/../etc", "clean"},
		{"file:///var/lib/backups/", "clean"},
		{"file:///var/lib?x=1", "no query"},
		{"file:///var/lib#frag", "fragment"},
		{"s3://AKIAEXAMPLE:topsecretvalue@bucket/p", "user information"},
		{"s3://bucket/p?endpoint=https://AKIAEXAMPLE:topsecretvalue@host", "user information"},
		{"s3://Bucket", "lowercase"},
		{"s3://bu", "3 to 63"},
		{"s3://-bucket", "start and end"},
		{"s3://bu..cket", "'..'"},
		{"s3://", "3 to 63"},
		{"s3://bucket/../x", "prefix"},
		{"s3://bucket/a//b", "prefix"},
		{"s3://bucket/.hidden", "prefix"},
		{"s3://bucket?endpoint=http://minio:9000", "insecure=true"},
		{"s3://bucket?endpoint=https://minio:9000&insecure=true", "only allows an http endpoint"},
		{"s3://bucket?insecure=true", "there is none"},
		{"s3://bucket?endpoint=ftp://host", "scheme must be https"},
		{"s3://bucket?endpoint=https://host/path", "without a path"},
		{"s3://bucket?endpoint=host:9000", "endpoint"},
		{"s3://bucket?region=eu-west-1&region=us-east-1", "2 times"},
		{"s3://bucket?regoin=eu-west-1", "unknown parameter"},
		{"s3://bucket?region=eu/west", "region"},
		{"s3://bucket?insecure=maybe", "true or false"},
	} {
		_, err := store.ParseURL(tc.in)
		if !errors.Is(err, store.ErrInvalidURL) {
			t.Errorf("ParseURL(%q) = %v, want ErrInvalidURL", tc.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseURL(%q): %q does not say %q", tc.in, err, tc.why)
		}
		if strings.Contains(err.Error(), "topsecretvalue") || strings.Contains(err.Error(), "AKIAEXAMPLE") {
			t.Errorf("ParseURL(%q): the error repeats the credentials: %v", tc.in, err)
		}
	}
}

func TestOpen(t *testing.T) {
	creds := store.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "topsecretvalue"}
	st, err := store.Open("s3://bucket/p/?region=eu-west-1", creds)
	if err != nil {
		t.Fatal(err)
	}
	if st.URL() != "s3://bucket/p?region=eu-west-1" {
		t.Errorf("URL() = %q", st.URL())
	}
	if _, err := store.Open("s3://bucket", store.Credentials{}); !errors.Is(err, store.ErrNoCredentials) {
		t.Errorf("Open of an s3 store without credentials: %v, want ErrNoCredentials", err)
	}
	st, err = store.Open("file:///var/lib/switchboard/backups", store.Credentials{})
	if err != nil || st.URL() != "file:///var/lib/switchboard/backups" {
		t.Errorf("Open(file): %v, %v", st, err)
	}
}

func TestLoadCredentials(t *testing.T) {
	want := store.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "topsecretvalue", SessionToken: "tok", Region: "eu-west-1"}
	dir := t.TempDir()

	// A mounted Secret: one file per value, with the newline editors add.
	secret := filepath.Join(dir, "secret")
	os.Mkdir(secret, 0o700)
	for name, v := range map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE\n", "AWS_SECRET_ACCESS_KEY": "topsecretvalue\n", "AWS_SESSION_TOKEN": "tok", "AWS_REGION": "eu-west-1"} {
		os.WriteFile(filepath.Join(secret, name), []byte(v), 0o600)
	}
	if got, err := store.LoadCredentials(secret); err != nil || got != want {
		t.Errorf("LoadCredentials(folder) = %v, %v", got, err)
	}

	// A shared credentials file.
	shared := filepath.Join(dir, "credentials")
	os.WriteFile(shared, []byte(`# switchboard backups
[other]
aws_access_key_id = AKIAOTHER
aws_secret_access_key = other

[default]
aws_access_key_id = AKIAEXAMPLE
aws_secret_access_key=topsecretvalue
aws_session_token = tok
; a comment
region = eu-west-1
`), 0o600)
	if got, err := store.LoadCredentials(shared); err != nil || got != want {
		t.Errorf("LoadCredentials(shared file) = %v, %v", got, err)
	}

	// The environment.
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "topsecretvalue", "AWS_SESSION_TOKEN": "tok", "AWS_DEFAULT_REGION": "eu-west-1"}
	if got, err := store.CredentialsFromEnv(func(k string) string { return env[k] }); err != nil || got != want {
		t.Errorf("CredentialsFromEnv = %v, %v", got, err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	if got, err := store.LoadCredentials(""); err != nil || got != want {
		t.Errorf("LoadCredentials(\"\") = %v, %v", got, err)
	}

	// Missing values are named; values are never shown.
	for name, content := range map[string]string{
		"no-secret":   "[default]\naws_access_key_id = AKIAEXAMPLE\n",
		"no-default":  "[a]\naws_access_key_id = x\n[b]\naws_access_key_id = y\n",
		"bad-line":    "[default]\ntopsecretvalue\n",
		"bad-section": "[default\naws_access_key_id = AKIAEXAMPLE\n",
		"empty":       "",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		_, err := store.LoadCredentials(p)
		if err == nil {
			t.Errorf("LoadCredentials(%s): no error", name)
			continue
		}
		if strings.Contains(err.Error(), "topsecretvalue") || strings.Contains(err.Error(), "AKIAEXAMPLE") {
			t.Errorf("LoadCredentials(%s): the error shows a value: %v", name, err)
		}
	}
	os.Remove(filepath.Join(secret, "AWS_SECRET_ACCESS_KEY"))
	if _, err := store.LoadCredentials(secret); !errors.Is(err, store.ErrNoCredentials) || !strings.Contains(err.Error(), "secret access key") {
		t.Errorf("LoadCredentials(folder without the secret): %v", err)
	}
	if _, err := store.LoadCredentials(filepath.Join(dir, "nothing")); err == nil {
		t.Error("LoadCredentials of a missing path: no error")
	}

	// Credentials print without secrets.
	for _, s := range []string{want.String(), want.GoString()} {
		if strings.Contains(s, "topsecretvalue") || strings.Contains(s, "tok") {
			t.Errorf("Credentials print as %q", s)
		}
	}
}

func TestValidateKey(t *testing.T) {
	for _, k := range []string{"a", "ws-acme/2026-12-02T030000Z.sbk", "ws_a/b.c/d-e", "A9/x..y"} {
		if err := store.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q): %v", k, err)
		}
	}
	for _, p := range []string{"", "ws-a", "ws-a/", "ws-a/sub/", "ws-a/s"} {
		if err := store.ValidatePrefix(p); err != nil {
			t.Errorf("ValidatePrefix(%q): %v", p, err)
		}
	}
	for _, p := range []string{"/", "/ws-a", "ws-a//", "../", ".sgwtmp/"} {
		if err := store.ValidatePrefix(p); !errors.Is(err, store.ErrInvalidKey) {
			t.Errorf("ValidatePrefix(%q): %v", p, err)
		}
	}
}
