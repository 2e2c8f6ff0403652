package meta

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/adapter"
)

// Limits of Meta's data-deletion callback (PROVIDERS.md "Meta data-deletion
// callback").
const (
	// MaxSignedRequest bounds the signed_request value: Meta's is about
	// 200 bytes.
	MaxSignedRequest = 4096
	// MaxDeletionUserID bounds the user_id it carries.
	MaxDeletionUserID = 64
	// SignedRequestSkew is how far the clocks may disagree: a request
	// issued up to this far in the future, or expired up to this long ago,
	// still counts.
	SignedRequestSkew = 5 * time.Minute
	// SignedRequestMaxAge is how old a request that does not expire
	// (expires 0 or absent) may be.
	SignedRequestMaxAge = 24 * time.Hour
)

// errDeletionClosed refuses a callback to an adapter that has been closed (its
// Integration was disconnected or rotated meanwhile).
var errDeletionClosed = adapter.Rejected(http.StatusNotFound, "not_found", "the integration is closed")

type signedPayload struct {
	Algorithm string `json:"algorithm"`
	Expires   int64  `json:"expires"`
	IssuedAt  int64  `json:"issued_at"`
	UserID    string `json:"user_id"`
}

// verifySignedRequest checks a data-deletion callback's signed_request
// ("<sig>.<payload>", both base64url; padding is tolerated) against the
// app secret and returns the user_id it names. The signature is an
// HMAC-SHA256 over the encoded payload segment, compared in constant time
// before the payload is parsed; then algorithm must be HMAC-SHA256,
// issued_at set and not in the future, expires (when not 0) not past, a
// request without expiry no older than SignedRequestMaxAge, and user_id 1
// to MaxDeletionUserID letters, digits, '_', '-' or '.'. A bad signature
// is a 403 Reject, anything else wrong a 400 Reject; no detail holds the
// secret, the signature or the user id.
func verifySignedRequest(appSecret, signed string, now time.Time) (string, error) {
	if appSecret == "" {
		return "", errDeletionClosed
	}
	if signed == "" {
		return "", malformed("no signed_request")
	}
	if len(signed) > MaxSignedRequest {
		return "", malformed("signed_request is too long")
	}
	encSig, encPayload, ok := strings.Cut(signed, ".")
	if !ok || encSig == "" || encPayload == "" {
		return "", malformed("signed_request is not <signature>.<payload>")
	}
	sig, err := decodeSegment(encSig)
	if err != nil || len(sig) != sha256.Size {
		return "", malformed("the signature of signed_request is not base64url HMAC-SHA256")
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(encPayload))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return "", adapter.Rejected(http.StatusForbidden, adapter.RejectSignature, "signed_request is not signed with the app secret")
	}
	raw, err := decodeSegment(encPayload)
	if err != nil {
		return "", malformed("the payload of signed_request is not base64url")
	}
	var p signedPayload
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&p); err != nil || dec.More() {
		return "", malformed("the payload of signed_request is not a JSON object of algorithm, expires, issued_at and user_id")
	}
	if !strings.EqualFold(p.Algorithm, "HMAC-SHA256") {
		return "", malformed("signed_request's algorithm is not HMAC-SHA256")
	}
	if p.IssuedAt <= 0 || p.Expires < 0 {
		return "", malformed("signed_request has no issued_at, or a negative expires")
	}
	issued := time.Unix(p.IssuedAt, 0)
	switch {
	case issued.After(now.Add(SignedRequestSkew)):
		return "", adapter.Rejected(http.StatusBadRequest, adapter.RejectTimestamp, "signed_request was issued in the future")
	case p.Expires > 0 && time.Unix(p.Expires, 0).Before(now.Add(-SignedRequestSkew)):
		return "", adapter.Rejected(http.StatusBadRequest, adapter.RejectTimestamp, "signed_request has expired")
	case p.Expires == 0 && issued.Before(now.Add(-SignedRequestMaxAge)):
		return "", adapter.Rejected(http.StatusBadRequest, adapter.RejectTimestamp, "signed_request is too old")
	}
	if !deletionUserID(p.UserID) {
		return "", malformed("signed_request's user_id is empty, too long or not an id")
	}
	return p.UserID, nil
}

// decodeSegment decodes base64url, with or without padding.
func decodeSegment(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// deletionUserID says whether s can be a Meta user id: 1 to
// MaxDeletionUserID letters, digits, '_', '-' or '.' (Meta's are digits).
func deletionUserID(s string) bool {
	if s == "" || len(s) > MaxDeletionUserID {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// VerifySignedRequest checks the signed_request of Meta's data-deletion
// callback with the Messenger app's secret and returns the user_id it
// names (see verifySignedRequest for the checks and the errors).
func (m *Messenger) VerifySignedRequest(signed string, now time.Time) (string, error) {
	_, secret, _, ok := m.creds()
	if !ok {
		return "", errDeletionClosed
	}
	return verifySignedRequest(secret, signed, now)
}

// DeletionIdentifiers are the identifiers of the contact identities on
// this channel that a data-deletion callback's user_id can match: the id
// itself. Messenger identities are page-scoped ids (PSIDs); Meta's callback
// names the app-scoped id (ASID) of a Facebook Login user, which is a
// different number for the same person unless the app links them, so a
// callback matches only where the two coincide.
func (m *Messenger) DeletionIdentifiers(userID string) []string { return []string{userID} }

// VerifySignedRequest checks the signed_request of Meta's data-deletion
// callback with the WhatsApp app's secret and returns the user_id it names
// (see verifySignedRequest for the checks and the errors).
func (w *WhatsApp) VerifySignedRequest(signed string, now time.Time) (string, error) {
	_, secret, _, ok := w.creds()
	if !ok {
		return "", errDeletionClosed
	}
	return verifySignedRequest(secret, signed, now)
}

// DeletionIdentifiers are the identifiers of the contact identities on
// this channel that a data-deletion callback's user_id can match.
// WhatsApp identities are phone numbers, "+" and the wa_id's digits; a
// user_id of digits matches the identity of that wa_id, and anything else
// matches none (Meta's app-scoped user ids are not phone numbers).
func (w *WhatsApp) DeletionIdentifiers(userID string) []string {
	if digits(userID) {
		return []string{"+" + userID}
	}
	return nil
}
