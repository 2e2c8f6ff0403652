package metatest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// DeletionPayload is the payload of the signed_request Meta posts to an
// app's data-deletion callback.
type DeletionPayload struct {
	Algorithm string `json:"algorithm"`
	Expires   int64  `json:"expires"`
	IssuedAt  int64  `json:"issued_at"`
	UserID    string `json:"user_id"`
}

// Deletion is the payload Meta sends for userID at now: HMAC-SHA256,
// issued now, expiring an hour later.
func Deletion(userID string, now time.Time) DeletionPayload {
	return DeletionPayload{Algorithm: "HMAC-SHA256", IssuedAt: now.Unix(), Expires: now.Add(time.Hour).Unix(), UserID: userID}
}

// SignedRequest is the signed_request form value for p:
// "<signature>.<payload>", both unpadded base64url, the signature an
// HMAC-SHA256 keyed with the app secret over the encoded payload.
func SignedRequest(appSecret string, p DeletionPayload) string {
	b, _ := json.Marshal(p)
	return SignRaw(appSecret, b)
}

// SignRaw signs any payload bytes the way SignedRequest does, for tests
// that send payloads Meta would not.
func SignRaw(appSecret string, payload []byte) string {
	enc := base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write([]byte(enc))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)) + "." + enc
}
