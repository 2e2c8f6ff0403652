package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Credentials sign an s3 store's requests. The file store needs none.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is set for temporary credentials.
	SessionToken string
	// Region is a default signing region; a store URL's region wins.
	Region string
}

// String never shows a secret, so that Credentials are safe in a %v.
func (c Credentials) String() string {
	if c.AccessKeyID == "" {
		return "store.Credentials{}"
	}
	return "store.Credentials{[REDACTED]}"
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// Empty says whether no key is set.
func (c Credentials) Empty() bool { return c.AccessKeyID == "" && c.SecretAccessKey == "" }

// The environment variables LoadCredentials reads, which are also the file
// names it reads in a credentials folder.
const (
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
	EnvRegion          = "AWS_REGION"
	EnvDefaultRegion   = "AWS_DEFAULT_REGION"
)

// LoadCredentials reads credentials from path, a folder or a shared
// credentials file (see the package doc), or, when path is empty, from the
// AWS environment variables. It fails with ErrNoCredentials unless both the
// access key and the secret key are set. Its errors name the path and the
// missing value, never a value.
func LoadCredentials(path string) (Credentials, error) {
	if path == "" {
		return CredentialsFromEnv(os.Getenv)
	}
	st, err := os.Stat(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("reading backup store credentials: %w", err)
	}
	var c Credentials
	if st.IsDir() {
		c, err = credentialsFromDir(path)
	} else {
		var b []byte
		b, err = os.ReadFile(path)
		if err == nil {
			c, err = ParseCredentialsFile(b)
		}
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("reading backup store credentials from %s: %w", path, err)
	}
	return c, nil
}

// CredentialsFromEnv reads the AWS environment variables through getenv.
func CredentialsFromEnv(getenv func(string) string) (Credentials, error) {
	c := Credentials{
		AccessKeyID:     strings.TrimSpace(getenv(EnvAccessKeyID)),
		SecretAccessKey: strings.TrimSpace(getenv(EnvSecretAccessKey)),
		SessionToken:    strings.TrimSpace(getenv(EnvSessionToken)),
		Region:          strings.TrimSpace(getenv(EnvRegion)),
	}
	if c.Region == "" {
		c.Region = strings.TrimSpace(getenv(EnvDefaultRegion))
	}
	if err := c.complete(); err != nil {
		return Credentials{}, fmt.Errorf("%w (from the environment)", err)
	}
	return c, nil
}

// credentialsFromDir reads one file per value, as a mounted Secret has.
func credentialsFromDir(dir string) (Credentials, error) {
	var c Credentials
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{EnvAccessKeyID, &c.AccessKeyID},
		{EnvSecretAccessKey, &c.SecretAccessKey},
		{EnvSessionToken, &c.SessionToken},
		{EnvRegion, &c.Region},
	} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return Credentials{}, err
		}
		*f.dst = strings.TrimSpace(string(b))
	}
	return c, c.complete()
}

// ParseCredentialsFile parses the AWS shared-credentials format: INI
// sections holding key = value lines, '#' or ';' comments. It reads the
// [default] section, or the only section, or the lines before any section.
func ParseCredentialsFile(b []byte) (Credentials, error) {
	sections := map[string]map[string]string{}
	var order []string
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return Credentials{}, fmt.Errorf("line %d: a section header without its closing ]", n)
			}
			cur = strings.TrimSpace(line[1 : len(line)-1])
			cur = strings.TrimSpace(strings.TrimPrefix(cur, "profile "))
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			// Never echo the line: it may be a secret.
			return Credentials{}, fmt.Errorf("line %d: not a key = value line", n)
		}
		if sections[cur] == nil {
			sections[cur] = map[string]string{}
			order = append(order, cur)
		}
		sections[cur][strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		return Credentials{}, err
	}
	var s map[string]string
	switch {
	case sections["default"] != nil:
		s = sections["default"]
	case len(order) == 1:
		s = sections[order[0]]
	case len(order) == 0:
		return Credentials{}, fmt.Errorf("%w: the file holds no key = value lines", ErrNoCredentials)
	default:
		return Credentials{}, fmt.Errorf("%w: the file has several sections and none is [default]", ErrNoCredentials)
	}
	c := Credentials{
		AccessKeyID:     s["aws_access_key_id"],
		SecretAccessKey: s["aws_secret_access_key"],
		SessionToken:    s["aws_session_token"],
		Region:          s["region"],
	}
	return c, c.complete()
}

func (c Credentials) complete() error {
	var missing []string
	if c.AccessKeyID == "" {
		missing = append(missing, "the access key ID")
	}
	if c.SecretAccessKey == "" {
		missing = append(missing, "the secret access key")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s", ErrNoCredentials, strings.Join(missing, " and "))
	}
	return nil
}
