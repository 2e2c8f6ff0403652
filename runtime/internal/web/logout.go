package web

import "net/http"

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if se := currentSession(r); se != nil {
		if err := s.Sessions.End(r.Context(), se.hash); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
