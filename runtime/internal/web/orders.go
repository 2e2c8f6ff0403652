package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/switchboard-dev/switchboard/runtime/internal/channels/shopify"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// ordersTimeout bounds a sidebar's wait for Shopify.
const ordersTimeout = 8 * time.Second

// shopOrders is one shop's answer for the sidebar.
type shopOrders struct {
	Shop   string
	Orders *shopify.Orders
	// Failed: "Shopify unavailable" is shown; Busy says it was the shop's
	// rate limit.
	Failed, Busy bool
}

// renderOrders writes the "orders" fragment: the contact's recent orders
// in each connected shop. Failures show as "Shopify unavailable", without
// detail (the Integration's status has it, for admins).
func (s *Server) renderOrders(w http.ResponseWriter, r *http.Request, c *store.Contact) {
	data := map[string]any{"Contact": c, "Restricted": c.ProcessingRestricted}
	var shops []shopOrders
	if !c.ProcessingRestricted { // no automation for a restricted contact, and no lookups elsewhere
		ctx, cancel := context.WithTimeout(r.Context(), ordersTimeout)
		defer cancel()
		for _, a := range s.shopifyAdapters() {
			o, err := a.RecentOrders(ctx, c.Emails, c.Phones)
			so := shopOrders{Shop: a.Shop(), Orders: o}
			if err != nil {
				so.Failed, so.Busy = true, errors.Is(err, shopify.ErrThrottled)
				s.Log.Warn("shopify orders lookup failed", "shop", a.Shop(), "contact", c.ID, "error", err.Error())
			}
			shops = append(shops, so)
		}
	}
	data["Shops"] = shops
	data["ManyShops"] = len(shops) > 1
	s.render(w, r, "orders", data)
}
