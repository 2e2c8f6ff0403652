package web

import (
	"net/url"
	"strings"
)

// safeNext returns next when it is a path on this site, and /inbox when it
// is not.
func safeNext(next string) string {
	if !localPath(next) {
		return "/inbox"
	}
	return next
}

// localPath says whether p is a path on this site and nothing a browser or
// proxy could read as another site. Browsers drop tabs and newlines inside
// a URL, read a backslash as a slash, and some map Unicode look-alikes of
// the slash onto it; servers and proxies may decode %2F and %5C. So p is
// printable ASCII (anything else percent-encoded), starts with exactly one
// slash, and its path, once decoded, holds no slash pair at its start, no
// backslash, no control character and nothing but ASCII. A query or
// fragment may carry percent-encoded text: it stays encoded.
func localPath(p string) bool {
	if len(p) == 0 || len(p) > 2048 || p[0] != '/' || strings.HasPrefix(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" {
		return false
	}
	if strings.HasPrefix(u.Path, "//") {
		return false
	}
	for i := 0; i < len(u.Path); i++ {
		if c := u.Path[i]; c < ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
