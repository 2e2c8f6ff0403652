package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// errNoLedger refuses a deletion that would be an erasure without the
// erasure ledger: a restored backup would bring the contact back.
var errNoLedger = errStatus(http.StatusServiceUnavailable, "ledger_unavailable",
	"Contacts cannot be deleted now: the erasure ledger is not available, and a deletion without it would come back with a restored backup.")

// contactDeleteForm asks to confirm a contact's deletion, saying what goes
// with them.
func (s *Server) contactDeleteForm(w http.ResponseWriter, r *http.Request) error {
	c, err := s.pathContact(r)
	if err != nil {
		return err
	}
	fp, err := s.CRM.Store.ContactFootprint(r.Context(), c.ID)
	if err != nil {
		return err
	}
	s.render(w, r, "contact_delete", map[string]any{"C": c, "F": fp, "NoLedger": s.Ledger == nil})
	return nil
}

// contactDelete deletes a contact: an erasure (see eraseContact).
func (s *Server) contactDelete(w http.ResponseWriter, r *http.Request) error {
	c, err := s.pathContact(r)
	if err != nil {
		return err
	}
	if err := s.eraseContact(r.Context(), actor(r), c.ID); err != nil {
		return err
	}
	if err := s.notify(r, notice{Text: "Contact deleted, with their conversations and notes."}); err != nil {
		return err
	}
	return s.seeOther(w, r, "/contacts")
}

// eraseContact deletes a contact through privacy.Erase, so that the
// deletion is an erasure: the contact goes with their identities, notes,
// conversations, messages, attachments and delivery events, deals that
// named them stay unlinked, and the erasure ledger gets an entry (ids and
// keyed hashes only) that a restore replays. The "contact.deleted" audit
// entry (ids only) commits with it. Without a ledger it refuses.
func (s *Server) eraseContact(ctx context.Context, actor *int64, id int64) error {
	if s.Ledger == nil {
		return errNoLedger
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	entry := privacy.Entry{Kind: privacy.KindContact, SubjectID: id, RequestID: "contact-delete-" + hex.EncodeToString(b[:])}
	return s.CRM.Store.Transact(ctx, func(tx pgx.Tx) error {
		if _, err := privacy.Erase(ctx, tx, s.Ledger, entry); err != nil {
			return err
		}
		return s.CRM.Store.Audit(ctx, tx, actor, "user", "contact.deleted", "contact", id)
	})
}
