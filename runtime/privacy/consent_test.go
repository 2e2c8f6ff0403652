package privacy

import (
	"context"
	"testing"
)

// TestMarketingAllowed: a contact may get marketing unless they opted out,
// their processing is restricted, or they are gone (erased); inside a
// transaction it sees the transaction's own changes.
func TestMarketingAllowed(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	ok := addContact(t, st.Pool, "Fine", []string{}, []string{}, nil)
	optedOut := addContact(t, st.Pool, "Opted Out", []string{}, []string{}, nil)
	restricted := addContact(t, st.Pool, "Restricted", []string{}, []string{}, nil)
	exec(t, st.Pool, `UPDATE contacts SET marketing_opt_out = true WHERE id = $1`, optedOut)
	exec(t, st.Pool, `UPDATE contacts SET processing_restricted = true WHERE id = $1`, restricted)
	for id, want := range map[int64]bool{ok: true, optedOut: false, restricted: false, 1 << 40: false} {
		got, err := MarketingAllowed(ctx, st.Pool, id)
		if err != nil || got != want {
			t.Errorf("MarketingAllowed(%d) = %v, %v; want %v", id, got, err, want)
		}
	}
	tx, err := st.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	exec(t, tx, `UPDATE contacts SET marketing_opt_out = true WHERE id = $1`, ok)
	if got, err := MarketingAllowed(ctx, tx, ok); err != nil || got {
		t.Errorf("inside the opt-out's transaction: %v, %v", got, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := MarketingAllowed(cancelled, st.Pool, ok); err == nil {
		t.Error("a failed query says nothing wrong")
	}
}
