package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/emulators/metatest"
	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

func TestVerifySignedRequest(t *testing.T) {
	const secret = "test-app-secret"
	now := time.Unix(1_800_000_000, 0)
	valid := metatest.Deletion("218471", now)
	with := func(f func(p *metatest.DeletionPayload)) string {
		p := valid
		f(&p)
		return metatest.SignedRequest(secret, p)
	}
	good := metatest.SignedRequest(secret, valid)
	sig, payload, _ := strings.Cut(good, ".")
	padded := func(s string) string { return s + strings.Repeat("=", (4-len(s)%4)%4) }
	tests := []struct {
		name   string
		signed string
		status int // 0: accepted
		reason string
	}{
		{"valid", good, 0, ""},
		{"valid with padding", padded(sig) + "." + padded(payload), 0, ""},
		{"algorithm in lower case", with(func(p *metatest.DeletionPayload) { p.Algorithm = "hmac-sha256" }), 0, ""},
		{"no expiry, issued an hour ago", with(func(p *metatest.DeletionPayload) { p.Expires, p.IssuedAt = 0, now.Add(-time.Hour).Unix() }), 0, ""},
		{"expired within the skew", with(func(p *metatest.DeletionPayload) { p.Expires = now.Add(-time.Minute).Unix() }), 0, ""},
		{"issued just ahead, within the skew", with(func(p *metatest.DeletionPayload) { p.IssuedAt = now.Add(time.Minute).Unix() }), 0, ""},

		{"wrong secret", metatest.SignedRequest("another-secret", valid), http.StatusForbidden, adapter.RejectSignature},
		{"tampered payload", sig + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"algorithm":"HMAC-SHA256","issued_at":1800000000,"user_id":"999"}`)), http.StatusForbidden, adapter.RejectSignature},
		{"signature over the decoded payload", signOver(secret, mustDecode(payload)) + "." + payload, http.StatusForbidden, adapter.RejectSignature},
		{"empty", "", http.StatusBadRequest, adapter.RejectMalformed},
		{"no dot", sig + payload, http.StatusBadRequest, adapter.RejectMalformed},
		{"no payload", sig + ".", http.StatusBadRequest, adapter.RejectMalformed},
		{"no signature", "." + payload, http.StatusBadRequest, adapter.RejectMalformed},
		{"signature not base64", "!!!!." + payload, http.StatusBadRequest, adapter.RejectMalformed},
		{"short signature", sig[:20] + "." + payload, http.StatusBadRequest, adapter.RejectMalformed},
		{"payload not base64", signOver(secret, []byte("*")) + ".*", http.StatusBadRequest, adapter.RejectMalformed},
		{"payload not JSON", metatest.SignRaw(secret, []byte("user_id=1")), http.StatusBadRequest, adapter.RejectMalformed},
		{"payload a JSON array", metatest.SignRaw(secret, []byte(`["HMAC-SHA256"]`)), http.StatusBadRequest, adapter.RejectMalformed},
		{"trailing JSON", metatest.SignRaw(secret, []byte(`{"algorithm":"HMAC-SHA256","issued_at":1800000000,"user_id":"1"} {}`)), http.StatusBadRequest, adapter.RejectMalformed},
		{"user_id a number", metatest.SignRaw(secret, []byte(`{"algorithm":"HMAC-SHA256","issued_at":1800000000,"user_id":218471}`)), http.StatusBadRequest, adapter.RejectMalformed},
		{"wrong algorithm", with(func(p *metatest.DeletionPayload) { p.Algorithm = "HMAC-SHA1" }), http.StatusBadRequest, adapter.RejectMalformed},
		{"no algorithm", with(func(p *metatest.DeletionPayload) { p.Algorithm = "" }), http.StatusBadRequest, adapter.RejectMalformed},
		{"expired", with(func(p *metatest.DeletionPayload) { p.Expires = now.Add(-time.Hour).Unix() }), http.StatusBadRequest, adapter.RejectTimestamp},
		{"no expiry, too old", with(func(p *metatest.DeletionPayload) { p.Expires, p.IssuedAt = 0, now.Add(-25*time.Hour).Unix() }), http.StatusBadRequest, adapter.RejectTimestamp},
		{"issued in the future", with(func(p *metatest.DeletionPayload) { p.IssuedAt = now.Add(time.Hour).Unix() }), http.StatusBadRequest, adapter.RejectTimestamp},
		{"no issued_at", with(func(p *metatest.DeletionPayload) { p.IssuedAt = 0 }), http.StatusBadRequest, adapter.RejectMalformed},
		{"negative expires", with(func(p *metatest.DeletionPayload) { p.Expires = -1 }), http.StatusBadRequest, adapter.RejectMalformed},
		{"empty user_id", with(func(p *metatest.DeletionPayload) { p.UserID = "" }), http.StatusBadRequest, adapter.RejectMalformed},
		{"long user_id", with(func(p *metatest.DeletionPayload) { p.UserID = strings.Repeat("1", MaxDeletionUserID+1) }), http.StatusBadRequest, adapter.RejectMalformed},
		{"user_id not an id", with(func(p *metatest.DeletionPayload) { p.UserID = "a@example.com" }), http.StatusBadRequest, adapter.RejectMalformed},
		{"too long", good + strings.Repeat("A", MaxSignedRequest), http.StatusBadRequest, adapter.RejectMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := verifySignedRequest(secret, tt.signed, now)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if want := "218471"; id != want {
					t.Fatalf("user id %q, want %q", id, want)
				}
				return
			}
			var rej *adapter.Reject
			if !errors.As(err, &rej) || rej.Status != tt.status || rej.Reason != tt.reason {
				t.Fatalf("got %q, %v; want a %d %s refusal", id, err, tt.status, tt.reason)
			}
			if id != "" {
				t.Fatalf("a refusal returned user id %q", id)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "218471") {
				t.Fatalf("the error names the secret or the user id: %v", err)
			}
		})
	}
	if _, err := verifySignedRequest("", good, now); err == nil {
		t.Fatal("accepted with no app secret")
	}
}

func signOver(secret string, b []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func mustDecode(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzSignedRequest feeds verifySignedRequest anything: it never panics,
// refuses only with a 4xx Reject, accepts only what the secret signs and
// only a bounded id, and a correct signature of a valid payload passes.
func FuzzSignedRequest(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	good := metatest.SignedRequest("secret", metatest.Deletion("218471", now))
	sig, payload, _ := strings.Cut(good, ".")
	f.Add("secret", good)
	f.Add("secret", sig+"=="+"."+payload+"=")
	f.Add("secret", metatest.SignedRequest("other", metatest.Deletion("218471", now)))
	f.Add("secret", metatest.SignRaw("secret", []byte(`{"algorithm":"HMAC-SHA256","issued_at":1800000000,"user_id":""}`)))
	f.Add("secret", metatest.SignRaw("secret", []byte(`{"algorithm":"none","issued_at":1800000000,"user_id":"1"}`)))
	f.Add("secret", metatest.SignRaw("secret", []byte(`{"algorithm":"HMAC-SHA256","expires":1,"issued_at":1,"user_id":"1"}`)))
	f.Add("secret", metatest.SignRaw("secret", []byte(`null`)))
	f.Add("secret", sig+payload)
	f.Add("secret", ".")
	f.Add("", "")
	f.Add("s", "a.b.c")
	f.Fuzz(func(t *testing.T, secret, signed string) {
		id, err := verifySignedRequest(secret, signed, now)
		if err != nil {
			var rej *adapter.Reject
			if !errors.As(err, &rej) || rej.Status < 400 || rej.Status > 499 {
				t.Fatalf("a refusal that is not a 4xx Reject: %v", err)
			}
			if id != "" {
				t.Fatal("a refusal returned a user id")
			}
			return
		}
		s, p, ok := strings.Cut(signed, ".")
		if !ok || secret == "" || !hmac.Equal(mustDecodePadded(t, s), mac(secret, p)) {
			t.Fatalf("accepted %q without the secret's signature", signed)
		}
		if !deletionUserID(id) {
			t.Fatalf("accepted user id %q", id)
		}
		// Re-signing the same payload with the secret passes too.
		if _, err := verifySignedRequest(secret, base64.RawURLEncoding.EncodeToString(mac(secret, p))+"."+p, now); err != nil {
			t.Fatalf("refused a correct signature of an accepted payload: %v", err)
		}
	})
}

func mac(secret, s string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return m.Sum(nil)
}

func mustDecodePadded(t *testing.T, s string) []byte {
	b, err := decodeSegment(s)
	if err != nil {
		t.Fatalf("accepted a signature that does not decode: %v", err)
	}
	return b
}
