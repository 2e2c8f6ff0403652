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
		if err := s.notify(r, notice{Text: "The API channel's webhook signing secret.", SecretLabel: "Webhook signing secret",
			Secret: secret, SecretNote: "keep it secret; admins can show it again here"}); err != nil {
			return err
		}
		return s.seeOther(w, r, "/settings/channels")
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
	return s.settingsRedirect(w, r, "api-channel")
}
