package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// tokenCreate makes a personal API token, shown once; only its hash is kept.
// The form offers a scope and an expiry: never, 30, 90 or 365 days, or the
// end of a chosen day (UTC).
func (s *Server) tokenCreate(w http.ResponseWriter, r *http.Request) error {
	expires, err := formExpiry(r.PostFormValue("expires"), r.PostFormValue("expires_on"), time.Now())
	if err != nil {
		return err
	}
	token, _, err := s.newToken(r, r.PostFormValue("name"), r.PostFormValue("scope"), expires)
	if err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: "Token created.", SecretLabel: "API token", Secret: token}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/settings/api")
}

// formExpiry reads the settings form's expiry choice.
func formExpiry(choice, date string, now time.Time) (*time.Time, error) {
	switch choice {
	case "", "never":
		return nil, nil
	case "30", "90", "365":
		days, _ := strconv.Atoi(choice)
		t := now.AddDate(0, 0, days)
		return &t, nil
	case "date":
		day, err := time.Parse(time.DateOnly, strings.TrimSpace(date))
		if err != nil {
			return nil, badRequest("expires_on: want a date such as %s", now.AddDate(0, 0, 30).Format(time.DateOnly))
		}
		t := day.AddDate(0, 0, 1) // the token works through the chosen day
		return &t, nil
	}
	return nil, badRequest("expires: want never, 30, 90, 365 or date")
}
