package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
)

// Page weight: what a browser downloads to show the inbox, the HTML and
// every script and style sheet it links, raw and gzipped (as a compressing
// ingress would serve them). Images and fonts: the app has none.

var (
	scriptSrc = regexp.MustCompile(`<script[^>]+src="([^"]+)"`)
	styleHref = regexp.MustCompile(`<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"|<link[^>]+href="([^"]+)"[^>]+rel="stylesheet"`)
)

// pageWeight signs in as the bootstrap owner and weighs path (the inbox).
func pageWeight(addr, email, password, path string) ([][2]string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := "http://" + addr
	resp, err := c.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Request.URL.Path == "/login" {
		return nil, fmt.Errorf("page weight: signing in as %s failed (%s)", email, resp.Status)
	}
	get := func(u string) ([]byte, error) {
		resp, err := c.Get(base + u)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("page weight: %s: %s", u, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	html, err := get(path)
	if err != nil {
		return nil, err
	}
	var js, css []byte
	for _, m := range scriptSrc.FindAllSubmatch(html, -1) {
		b, err := get(string(m[1]))
		if err != nil {
			return nil, err
		}
		js = append(js, b...)
	}
	for _, m := range styleHref.FindAllSubmatch(html, -1) {
		u := m[1]
		if len(u) == 0 {
			u = m[2]
		}
		b, err := get(string(u))
		if err != nil {
			return nil, err
		}
		css = append(css, b...)
	}
	kb := func(b []byte) string {
		return fmt.Sprintf("%.1f KiB / %.1f KiB", float64(len(b))/1024, float64(gzipped(b))/1024)
	}
	all := append(append(append([]byte{}, html...), js...), css...)
	return [][2]string{
		{"inbox page weight, HTML, raw / gzip", kb(html)},
		{fmt.Sprintf("inbox page weight, JS (%d files), raw / gzip", len(scriptSrc.FindAll(html, -1))), kb(js)},
		{"inbox page weight, CSS, raw / gzip", kb(css)},
		{"inbox page weight, total, raw / gzip", kb(all)},
	}, nil
}

func gzipped(b []byte) int {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	w.Write(b)
	w.Close()
	return buf.Len()
}
