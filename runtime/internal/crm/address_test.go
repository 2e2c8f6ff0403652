package crm

import (
	"strings"
	"testing"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestImportKeepsAddress: a CSV row that updates a contact leaves the
// address it has (the CSV has no address column).
func TestImportKeepsAddress(t *testing.T) {
	svc, actor := newService(t)
	c, err := svc.CreateContact(ctx, actor, &store.Contact{Name: "Ada", Emails: []string{"ada@x.example"}, Address: "221B Baker Street, London"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ImportContacts(ctx, actor, strings.NewReader("name,email\nAda Lovelace,ada@x.example\n")); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Contact(ctx, c.ID)
	if err != nil || got.Name != "Ada Lovelace" || got.Address != "221B Baker Street, London" {
		t.Errorf("after import: %+v, %v", got, err)
	}
}
