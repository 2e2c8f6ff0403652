package web

import (
	"net/http"
	"net/url"
	"strings"
)

func (s *Server) apiChannelUpdate(w http.ResponseWriter, r *http.Request) error {
	u := currentUser(r)
	if r.PostFormValue("reveal") != "" {
		secret, err := s.APIChannel.RevealSecret(r.Context(), u.ID)
		if err != nil {
			return err
		}
		return s.renderSettings(w, r, "", "Webhook signing secret", secret)
	}
	raw := strings.TrimSpace(r.PostFormValue("webhook_url"))
	if raw != "" {
		pu, err := url.Parse(raw)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return badRequest("webhook_url: want an http(s) URL")
		}
	}
	if err := s.APIChannel.SetWebhook(r.Context(), u.ID, raw); err != nil {
		return err
	}
	return settingsRedirect(w, r, "api-channel")
}
