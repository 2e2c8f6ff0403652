package shopify

import (
	"context"
	"strings"
	"time"
)

// Order is one of a customer's orders, as the sidebar shows it.
type Order struct {
	// ID is the order's GraphQL id, gid://shopify/Order/N.
	ID string
	// Name is what the shop calls it: "#1001".
	Name      string
	CreatedAt time.Time
	// FinancialStatus and FulfillmentStatus are Shopify's display enums:
	// PAID, PARTIALLY_REFUNDED, ...; FULFILLED, UNFULFILLED, ...
	FinancialStatus   string
	FulfillmentStatus string
	// Amount is the total in the shop's currency, as Shopify writes it
	// ("12.5"); Currency its ISO 4217 code.
	Amount   string
	Currency string
	// AdminURL opens the order in the shop's admin.
	AdminURL string
}

// Financial is the financial status in words: "partially refunded".
func (o Order) Financial() string { return words(o.FinancialStatus) }

// Fulfillment is the fulfillment status in words.
func (o Order) Fulfillment() string { return words(o.FulfillmentStatus) }

// Total is the amount with two decimals and its currency: "12.50 EUR".
func (o Order) Total() string {
	amount := o.Amount
	if whole, frac, ok := strings.Cut(amount, "."); ok {
		frac = (frac + "00")[:max(2, len(strings.TrimRight(frac, "0")))]
		amount = whole + "." + frac
	} else if amount != "" {
		amount += ".00"
	}
	return strings.TrimSpace(amount + " " + o.Currency)
}

func words(enum string) string { return strings.ToLower(strings.ReplaceAll(enum, "_", " ")) }

// Orders is what the shop knows of one contact.
type Orders struct {
	// CustomerID is the matched customer's GraphQL id; "" when the
	// contact's emails and phones match no customer.
	CustomerID   string
	CustomerName string
	// Orders are the most recent first, at most MaxOrders.
	Orders []Order
}

// Limits on the identifiers a lookup tries: each is one query.
const (
	maxLookupEmails = 3
	maxLookupPhones = 3
)

const customerQuery = `query($q: String!) {
  customers(first: 1, query: $q) { edges { node { id displayName } } }
}`

const ordersQuery = `query($id: ID!) {
  customer(id: $id) {
    orders(first: 5, sortKey: CREATED_AT, reverse: true) {
      edges { node { id name createdAt displayFinancialStatus displayFulfillmentStatus totalPriceSet { shopMoney { amount currencyCode } } } }
    }
  }
}`

// searchTerm is a Shopify search-syntax term matching field exactly.
func searchTerm(field, value string) string {
	value = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(value)
	return field + `:"` + value + `"`
}

// normEmails and normPhones are how identifiers compare: emails
// lower-cased, phones by their digits.
func normEmails(in []string) []string {
	var out []string
	for _, e := range in {
		if e = strings.ToLower(strings.TrimSpace(e)); e != "" && !contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func normPhones(in []string) []string {
	var out []string
	for _, p := range in {
		if d := digits(p); d != "" && !contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// RecentOrders returns the recent orders of the customer a contact is:
// the first customer whose email is one of emails, else whose phone is one
// of phones (E.164). Answers are cached for CacheTTL. A failure is one of
// the package's errors, whose text is safe to show.
func (a *Adapter) RecentOrders(ctx context.Context, emails, phones []string) (*Orders, error) {
	emails, phones = normEmails(emails), normPhones(phones)
	emails, phones = emails[:min(len(emails), maxLookupEmails)], phones[:min(len(phones), maxLookupPhones)]
	if len(emails) == 0 && len(phones) == 0 {
		return &Orders{}, nil
	}
	if _, _, ok := a.credentials(); !ok {
		return nil, ErrClosed
	}
	key := strings.Join(emails, ",") + "|" + strings.Join(phones, ",")
	now := a.d.Clock()
	if o, ok := a.cache.get(key, now); ok {
		return o, nil
	}
	gen := a.cache.generation()
	out, err := a.lookup(ctx, emails, phones)
	if err != nil {
		return nil, err
	}
	a.cache.put(&cacheEntry{key: key, emails: emails, phones: phones, orders: out, at: now}, gen)
	return out, nil
}

func (a *Adapter) lookup(ctx context.Context, emails, phones []string) (*Orders, error) {
	var terms []string
	for _, e := range emails {
		terms = append(terms, searchTerm("email", e))
	}
	for _, p := range phones {
		terms = append(terms, searchTerm("phone", "+"+p))
	}
	out := &Orders{}
	for _, term := range terms {
		var res struct {
			Customers struct {
				Edges []struct {
					Node struct {
						ID          string `json:"id"`
						DisplayName string `json:"displayName"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"customers"`
		}
		if err := a.graphql(ctx, customerQuery, map[string]any{"q": term}, &res); err != nil {
			return nil, err
		}
		if e := res.Customers.Edges; len(e) > 0 && e[0].Node.ID != "" {
			out.CustomerID, out.CustomerName = e[0].Node.ID, e[0].Node.DisplayName
			break
		}
	}
	if out.CustomerID == "" {
		return out, nil
	}
	var res struct {
		Customer *struct {
			Orders struct {
				Edges []struct {
					Node struct {
						ID                       string    `json:"id"`
						Name                     string    `json:"name"`
						CreatedAt                time.Time `json:"createdAt"`
						DisplayFinancialStatus   string    `json:"displayFinancialStatus"`
						DisplayFulfillmentStatus string    `json:"displayFulfillmentStatus"`
						TotalPriceSet            struct {
							ShopMoney struct {
								Amount       string `json:"amount"`
								CurrencyCode string `json:"currencyCode"`
							} `json:"shopMoney"`
						} `json:"totalPriceSet"`
					} `json:"node"`
				} `json:"edges"`
			} `json:"orders"`
		} `json:"customer"`
	}
	if err := a.graphql(ctx, ordersQuery, map[string]any{"id": out.CustomerID}, &res); err != nil {
		return nil, err
	}
	if res.Customer == nil { // deleted between the two queries
		return &Orders{}, nil
	}
	for _, e := range res.Customer.Orders.Edges {
		n := e.Node
		o := Order{ID: n.ID, Name: n.Name, CreatedAt: n.CreatedAt, FinancialStatus: n.DisplayFinancialStatus,
			FulfillmentStatus: n.DisplayFulfillmentStatus, Amount: n.TotalPriceSet.ShopMoney.Amount, Currency: n.TotalPriceSet.ShopMoney.CurrencyCode}
		if id, ok := strings.CutPrefix(n.ID, "gid://shopify/Order/"); ok && digits(id) == id && id != "" {
			o.AdminURL = "https://" + a.shop + "/admin/orders/" + id
		}
		out.Orders = append(out.Orders, o)
		if len(out.Orders) == MaxOrders {
			break
		}
	}
	return out, nil
}
