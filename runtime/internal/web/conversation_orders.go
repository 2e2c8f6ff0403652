package web

import "net/http"

// conversationOrders serves the conversation sidebar's orders fragment,
// loaded after the page so that Shopify never slows it.
func (s *Server) conversationOrders(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	conv, err := s.Inbox.Store.ConversationByID(r.Context(), nil, id)
	if err != nil {
		return err
	}
	c, err := s.CRM.Contact(r.Context(), conv.ContactID)
	if err != nil {
		return err
	}
	s.renderOrders(w, r, c)
	return nil
}
