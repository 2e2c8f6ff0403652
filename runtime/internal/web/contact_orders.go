package web

import "net/http"

// contactOrders serves the contact page's orders fragment.
func (s *Server) contactOrders(w http.ResponseWriter, r *http.Request) error {
	c, err := s.pathContact(r)
	if err != nil {
		return err
	}
	s.renderOrders(w, r, c)
	return nil
}
