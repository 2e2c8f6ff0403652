package store_test

import (
	"path"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/controllers/backup/store"
)

// FuzzParseURL: a URL that parses has a canonical form that parses back to
// the same Location, and its prefix cannot leave the bucket.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"file:///var/lib/switchboard/backups",
		"s3://bucket/prefix?endpoint=https://s3.example.net&region=fr-par",
		"s3://b12?insecure=true&endpoint=http%3A%2F%2Fminio%3A9000",
		"s3://b12/a/b/?region=eu-west-1",
		"s3://user:pass@bucket",
		"file://host/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := store.ParseURL(s)
		if err != nil {
			return
		}
		again, err := store.ParseURL(l.String())
		if err != nil {
			t.Fatalf("ParseURL(%q) = %+v, whose String() %q does not parse: %v", s, l, l.String(), err)
		}
		if again != l {
			t.Fatalf("ParseURL(%q) = %+v, but its String() %q parses to %+v", s, l, l.String(), again)
		}
		if l.Prefix != "" && store.ValidateKey(l.Prefix) != nil {
			t.Fatalf("ParseURL(%q): prefix %q is not a valid key", s, l.Prefix)
		}
		if l.Scheme == "file" && path.Clean(l.Path) != l.Path {
			t.Fatalf("ParseURL(%q): path %q is not clean", s, l.Path)
		}
	})
}

// FuzzValidateKey: a valid key, joined to a root, stays under it and names
// the very path it spells.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"ws-a/x.sbk", "../x", "a/../../b", "a/./b", ".x", "a//b", "a/b/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if store.ValidateKey(key) != nil {
			return
		}
		p := path.Join("/root", key)
		if p != "/root/"+key {
			t.Fatalf("valid key %q joins to %q", key, p)
		}
		for _, seg := range strings.Split(key, "/") {
			if seg == "." || seg == ".." || strings.HasPrefix(seg, ".") {
				t.Fatalf("valid key %q has segment %q", key, seg)
			}
		}
		if store.ValidatePrefix(key) != nil || store.ValidatePrefix(key+"/") != nil {
			t.Fatalf("valid key %q is not a valid prefix", key)
		}
	})
}

// FuzzParseCredentialsFile: no input panics, and an error never repeats a
// line of the file, which may hold a secret.
func FuzzParseCredentialsFile(f *testing.F) {
	for _, s := range []string{
		"[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = c2VjcmV0c2VjcmV0c2VjcmV0\n",
		"aws_access_key_id=a\naws_secret_access_key=b",
		"[default]\nc2VjcmV0c2VjcmV0c2VjcmV0\n",
		"[profile x]\nregion = eu-west-1\n",
		"[default\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := store.ParseCredentialsFile(b)
		if err == nil {
			if c.AccessKeyID == "" || c.SecretAccessKey == "" {
				t.Fatalf("no error, but credentials incomplete")
			}
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if len(line) >= 16 && !strings.ContainsAny(line, " \t") && strings.Contains(err.Error(), line) {
				t.Fatalf("error %q repeats the line %q", err, line)
			}
		}
	})
}
