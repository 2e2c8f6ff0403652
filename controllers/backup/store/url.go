package store

import (
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Location is a parsed store URL.
type Location struct {
	// Scheme is "file" or "s3".
	Scheme string
	// Path is a file store's folder: absolute and clean.
	Path string
	// Bucket and Prefix name an s3 store's place. Prefix is empty or a
	// valid key, without a trailing "/".
	Bucket string
	Prefix string
	// Endpoint is the scheme and host of an S3-compatible server, or empty
	// for Amazon S3.
	Endpoint string
	// Region is the signing region, if the URL gave one.
	Region string
	// Insecure allows an http endpoint.
	Insecure bool
}

// ParseURL parses and checks a store URL (see the package doc). Its errors
// match ErrInvalidURL and never repeat the URL, which might hold a secret
// someone put there by mistake.
func ParseURL(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("%w: it does not parse as a URL", ErrInvalidURL)
	}
	if u.User != nil {
		return Location{}, fmt.Errorf("%w: it has user information; credentials never go in a store URL, use a credentials file or the AWS environment variables", ErrInvalidURL)
	}
	if u.Fragment != "" || u.RawFragment != "" || strings.Contains(raw, "#") {
		return Location{}, fmt.Errorf("%w: it has a #fragment", ErrInvalidURL)
	}
	switch u.Scheme {
	case "file":
		return parseFileURL(u)
	case "s3":
		return parseS3URL(u)
	default:
		return Location{}, fmt.Errorf("%w: the scheme must be file or s3", ErrInvalidURL)
	}
}

func parseFileURL(u *url.URL) (Location, error) {
	if u.Opaque != "" || u.Host != "" {
		return Location{}, fmt.Errorf("%w: a file URL names an absolute folder on this machine, as in file:///var/lib/switchboard/backups", ErrInvalidURL)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return Location{}, fmt.Errorf("%w: a file URL takes no query", ErrInvalidURL)
	}
	p := u.Path
	if !path.IsAbs(p) || p == "/" {
		return Location{}, fmt.Errorf("%w: a file URL names an absolute folder other than /", ErrInvalidURL)
	}
	if path.Clean(p) != p || strings.ContainsRune(p, 0) {
		return Location{}, fmt.Errorf("%w: the folder %q is not a clean path (no .., //, or trailing /)", ErrInvalidURL, p)
	}
	return Location{Scheme: "file", Path: p}, nil
}

func parseS3URL(u *url.URL) (Location, error) {
	if u.Opaque != "" {
		return Location{}, fmt.Errorf("%w: an s3 URL is s3://bucket/prefix", ErrInvalidURL)
	}
	l := Location{Scheme: "s3", Bucket: u.Host}
	if err := validateBucket(l.Bucket); err != nil {
		return Location{}, err
	}
	if p := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/"), "/"); p != "" {
		if err := ValidateKey(p); err != nil {
			return Location{}, fmt.Errorf("%w: the prefix: %w", ErrInvalidURL, err)
		}
		l.Prefix = p
	}
	if u.RawPath != "" && u.RawPath != u.EscapedPath() {
		return Location{}, fmt.Errorf("%w: the prefix has escaped characters", ErrInvalidURL)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, fmt.Errorf("%w: the query does not parse", ErrInvalidURL)
	}
	for k, vs := range q {
		if len(vs) != 1 {
			return Location{}, fmt.Errorf("%w: %q is given %d times", ErrInvalidURL, k, len(vs))
		}
		v := vs[0]
		switch k {
		case "endpoint":
			l.Endpoint = v
		case "region":
			if !validRegion(v) {
				return Location{}, fmt.Errorf("%w: region %q is not letters, digits, '-' and '_'", ErrInvalidURL, v)
			}
			l.Region = v
		case "insecure":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Location{}, fmt.Errorf("%w: insecure must be true or false", ErrInvalidURL)
			}
			l.Insecure = b
		default:
			return Location{}, fmt.Errorf("%w: unknown parameter %q (known: endpoint, region, insecure)", ErrInvalidURL, k)
		}
	}
	if l.Endpoint != "" {
		e, err := url.Parse(l.Endpoint)
		if err != nil || e.Opaque != "" || e.Host != strings.TrimSpace(e.Host) || e.Host == "" {
			return Location{}, fmt.Errorf("%w: endpoint must be scheme://host[:port]", ErrInvalidURL)
		}
		if e.User != nil {
			return Location{}, fmt.Errorf("%w: the endpoint has user information; credentials never go in a store URL", ErrInvalidURL)
		}
		if (e.Path != "" && e.Path != "/") || e.RawQuery != "" || e.ForceQuery || e.Fragment != "" {
			return Location{}, fmt.Errorf("%w: endpoint must be scheme://host[:port], without a path or query", ErrInvalidURL)
		}
		switch e.Scheme {
		case "https":
			if l.Insecure {
				return Location{}, fmt.Errorf("%w: insecure=true only allows an http endpoint; TLS certificates are always checked", ErrInvalidURL)
			}
		case "http":
			if !l.Insecure {
				return Location{}, fmt.Errorf("%w: an http endpoint sends backups and signatures in clear; add insecure=true if that is really meant", ErrInvalidURL)
			}
		default:
			return Location{}, fmt.Errorf("%w: the endpoint's scheme must be https (or http with insecure=true)", ErrInvalidURL)
		}
		l.Endpoint = e.Scheme + "://" + e.Host
	} else if l.Insecure {
		return Location{}, fmt.Errorf("%w: insecure=true only allows an http endpoint, and there is none", ErrInvalidURL)
	}
	return l, nil
}

// String is the canonical URL: ParseURL(l.String()) gives l back.
func (l Location) String() string {
	switch l.Scheme {
	case "file":
		return (&url.URL{Scheme: "file", Path: l.Path}).String()
	case "s3":
		var b strings.Builder
		b.WriteString("s3://" + l.Bucket)
		if l.Prefix != "" {
			b.WriteString("/" + l.Prefix)
		}
		sep := "?"
		param := func(k, v string) {
			b.WriteString(sep + k + "=" + v)
			sep = "&"
		}
		if l.Endpoint != "" {
			param("endpoint", queryValue(l.Endpoint))
		}
		if l.Region != "" {
			param("region", l.Region)
		}
		if l.Insecure {
			param("insecure", "true")
		}
		return b.String()
	}
	return ""
}

// queryValue escapes v for a query, keeping an endpoint's ':', '/', '[' and
// ']' readable.
func queryValue(v string) string {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(keyChar(c) || c == ':' || c == '/' || c == '[' || c == ']') {
			return url.QueryEscape(v)
		}
	}
	return v
}

// validateBucket applies S3's bucket naming rules.
func validateBucket(b string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: bucket %q %s", ErrInvalidURL, b, why)
	}
	if len(b) < 3 || len(b) > 63 {
		return bad("must be 3 to 63 characters long")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return bad("must be lowercase letters, digits, '.' and '-'")
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return bad("must start and end with a letter or digit")
	}
	if strings.Contains(b, "..") || strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return bad("must not have '..', '.-' or '-.'")
	}
	return nil
}

func alnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

func validRegion(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
