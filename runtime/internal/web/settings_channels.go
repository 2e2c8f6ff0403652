package web

import "net/http"

// settingsChannels shows the API channel's webhook and signing secret, the
// Microsoft 365 mailboxes, and every integration's status (admins).
func (s *Server) settingsChannels(w http.ResponseWriter, r *http.Request) error {
	return s.renderChannels(w, r, "")
}

// renderChannels shows the channels section, with a problem if given (a
// failed OAuth connection).
func (s *Server) renderChannels(w http.ResponseWriter, r *http.Request, flash string) error {
	data := settingsData(r, "channels")
	data["Flash"] = flash
	var err error
	if data["Channel"], err = s.APIChannel.Settings(r.Context()); err != nil {
		return err
	}
	data["Mailboxes"] = s.mailboxes()
	if s.Integrations != nil {
		data["Integrations"] = s.Integrations.Statuses()
	}
	s.render(w, r, "settings_channels", data)
	return nil
}
