package web

import (
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/places"
	"github.com/switchboard-dev/switchboard/runtime/internal/channels/shopify"
)

// shopifyAdapters are the open shopify Integrations, by name.
func (s *Server) shopifyAdapters() []*shopify.Adapter {
	if s.Integrations == nil {
		return nil
	}
	var out []*shopify.Adapter
	for _, a := range s.Integrations.OfType(shopify.Type) {
		if sa, ok := a.(*shopify.Adapter); ok {
			out = append(out, sa)
		}
	}
	return out
}

// placesAdapter is the open googlePlaces Integration (the first by name),
// or nil: address fields are then plain inputs.
func (s *Server) placesAdapter() *places.Adapter {
	if s.Integrations == nil {
		return nil
	}
	for _, a := range s.Integrations.OfType(places.Type) {
		if pa, ok := a.(*places.Adapter); ok {
			return pa
		}
	}
	return nil
}
