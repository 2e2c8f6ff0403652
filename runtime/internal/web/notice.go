package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
)

// notice is what the next page tells a member once: the outcome of what
// they just did, and perhaps a secret shown only this once (an invite link,
// a new API token). Notices are the server's own state, kept in the
// member's session; no URL can put words into one.
type notice struct {
	Text        string `json:"text"`
	Error       bool   `json:"error,omitempty"` // shown as a problem, not a success
	SecretLabel string `json:"secretLabel,omitempty"`
	Secret      string `json:"secret,omitempty"`
	// SecretNote says under the secret whether it can be seen again; by
	// default, that it cannot.
	SecretNote string `json:"secretNote,omitempty"`
}

// noticeKey derives the key that seals a session's notices from the session
// token, which only the browser holds: the database keeps the token's hash,
// so a notice's secret cannot be read from the database or a backup of it.
func noticeKey(token string) []byte {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("switchboard session notice v1"))
	return m.Sum(nil)
}

func sealNotice(key []byte, n notice) ([]byte, error) {
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, b, nil), nil
}

func openNotice(key, sealed []byte) (notice, error) {
	var n notice
	gcm, err := newGCM(key)
	if err != nil {
		return n, err
	}
	if len(sealed) < gcm.NonceSize() {
		return n, errors.New("notice: too short")
	}
	b, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return n, err
	}
	return n, json.Unmarshal(b, &n)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	c, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(c)
}

// notify keeps n for the member's next page. It needs a browser session;
// with none (an API token) it does nothing.
func (s *Server) notify(r *http.Request, n notice) error {
	se := currentSession(r)
	if se == nil {
		return nil
	}
	sealed, err := sealNotice(se.noticeKey, n)
	if err != nil {
		return err
	}
	return s.Sessions.SetNotice(r.Context(), se.hash, sealed)
}

// takeNotice returns the notice waiting for this session, if any, and
// clears it. A notice that cannot be opened is dropped.
func (s *Server) takeNotice(r *http.Request) *notice {
	se := currentSession(r)
	if se == nil || !se.hasNotice {
		return nil
	}
	sealed, err := s.Sessions.TakeNotice(r.Context(), se.hash)
	if err != nil {
		s.Log.Warn("reading a session notice failed", "error", err.Error())
		return nil
	}
	se.hasNotice = false
	if sealed == nil {
		return nil
	}
	n, err := openNotice(se.noticeKey, sealed)
	if err != nil {
		return nil
	}
	return &n
}

// seeOther ends a successful form post (post-redirect-get): a plain browser
// post gets a 303 to the page; the app's script, which submitted the form
// with fetch, gets the address as JSON and goes there itself; htmx is told
// to load it as a whole page.
func (s *Server) seeOther(w http.ResponseWriter, r *http.Request, to string) error {
	to = safeNext(to)
	switch {
	case r.Header.Get("X-Switchboard-Form") == "1":
		writeJSON(w, http.StatusOK, map[string]string{"redirect": to})
	case r.Header.Get("HX-Request") == "true":
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
	return nil
}
