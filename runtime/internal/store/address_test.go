package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
	"github.com/switchboard-dev/switchboard/runtime/internal/store/storetest"
)

// TestAddresses: contacts and companies keep a one-line postal address,
// which edits replace, merges keep, and lists show.
func TestAddresses(t *testing.T) {
	st := storetest.NewDB(t)
	ada := mustContact(t, st, &store.Contact{Name: "Ada", Address: "  221B Baker Street, London NW1 6XE, UK "})
	if ada.Address != "221B Baker Street, London NW1 6XE, UK" {
		t.Fatalf("created with address %q", ada.Address)
	}
	rows, err := st.ListContacts(ctx, store.ContactFilter{Search: "Ada"})
	if err != nil || len(rows) != 1 || rows[0].Address != ada.Address {
		t.Fatalf("listed: %v, %v", rows, err)
	}

	ada.Address = "10 Downing Street, London SW1A 2AA, UK"
	if got, err := st.UpdateContact(ctx, nil, ada); err != nil || got.Address != ada.Address {
		t.Fatalf("updated: %+v, %v", got, err)
	}
	for name, bad := range map[string]string{"two lines": "1 Road\nTown", "too long": strings.Repeat("a", store.MaxAddressLen+1), "NUL": "1 Road\x00"} {
		c := *ada
		c.Address = bad
		if _, err := st.UpdateContact(ctx, nil, &c); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		if _, err := st.CreateCompany(ctx, nil, &store.Company{Name: "Bad", Address: bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("company, %s: %v, want ErrInvalid", name, err)
		}
	}

	// A merge keeps keep's address, or takes drop's when keep has none.
	bare := mustContact(t, st, &store.Contact{Name: "Ada L."})
	merged, err := st.MergeContacts(ctx, nil, bare.ID, ada.ID)
	if err != nil || merged.Address != "10 Downing Street, London SW1A 2AA, UK" {
		t.Fatalf("merged into a contact without address: %+v, %v", merged, err)
	}
	other := mustContact(t, st, &store.Contact{Name: "Other", Address: "Elsewhere 1"})
	if merged, err = st.MergeContacts(ctx, nil, merged.ID, other.ID); err != nil || merged.Address != "10 Downing Street, London SW1A 2AA, UK" {
		t.Fatalf("merged into a contact with an address: %+v, %v", merged, err)
	}

	co, err := st.CreateCompany(ctx, nil, &store.Company{Name: "Acme", Address: "Unter den Linden 77, 10117 Berlin, Germany"})
	if err != nil || co.Address != "Unter den Linden 77, 10117 Berlin, Germany" {
		t.Fatalf("company: %+v, %v", co, err)
	}
	co.Address = ""
	if co, err = st.UpdateCompany(ctx, nil, co); err != nil || co.Address != "" {
		t.Fatalf("company cleared: %+v, %v", co, err)
	}
}
