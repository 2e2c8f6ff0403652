package meta

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// SignatureHeader carries the HMAC-SHA256 of the raw body, keyed with the
// app secret: "sha256=<hex>".
const SignatureHeader = "X-Hub-Signature-256"

// maxChallenge bounds the hub.challenge echoed back (Meta sends a number).
const maxChallenge = 256

// verifySignature checks header against body, in constant time. A missing
// header is 401, a wrong one 403.
func verifySignature(appSecret, header string, body []byte) error {
	if header == "" {
		return adapter.Rejected(http.StatusUnauthorized, adapter.RejectSignature, "no "+SignatureHeader+" header")
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return adapter.Rejected(http.StatusForbidden, adapter.RejectSignature, SignatureHeader+" is not sha256=<hex>")
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return adapter.Rejected(http.StatusForbidden, adapter.RejectSignature, SignatureHeader+" is not sha256=<hex>")
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return adapter.Rejected(http.StatusForbidden, adapter.RejectSignature, "the signature does not match the body")
	}
	return nil
}

// verifyHandshake answers Meta's subscription check: a GET with
// hub.mode=subscribe, hub.verify_token and hub.challenge. The challenge
// goes back as it came, in text/plain, when the token matches.
func verifyHandshake(r *http.Request, verifyToken string) (int, string, []byte, error) {
	q := r.URL.Query()
	if q.Get("hub.mode") != "subscribe" {
		return 0, "", nil, adapter.Rejected(http.StatusForbidden, adapter.RejectVerify, "hub.mode is not subscribe")
	}
	token := q.Get("hub.verify_token")
	if verifyToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(verifyToken)) != 1 {
		return 0, "", nil, adapter.Rejected(http.StatusForbidden, adapter.RejectVerify, "hub.verify_token does not match")
	}
	challenge := q.Get("hub.challenge")
	if challenge == "" || len(challenge) > maxChallenge {
		return 0, "", nil, adapter.Rejected(http.StatusBadRequest, adapter.RejectMalformed, "hub.challenge is missing or too long")
	}
	return http.StatusOK, "text/plain; charset=utf-8", []byte(challenge), nil
}

// okAnswer is what a processed delivery gets.
func okAnswer() (int, string, []byte, error) {
	return http.StatusOK, "text/plain; charset=utf-8", []byte("EVENT_RECEIVED"), nil
}

func malformed(detail string) error {
	return adapter.Rejected(http.StatusBadRequest, adapter.RejectMalformed, detail)
}
