package user

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// StartEmailChange records member id's request to change their email to
// newEmail and runs send (which mails the confirmation link) in the same
// transaction: if sending fails, nothing is recorded. The member is the
// actor of the "user.email_change_requested" audit entry.
func (s *Service) StartEmailChange(ctx context.Context, id int64, newEmail string, tokenHash []byte, expires time.Time, send func() error) (*store.EmailChange, error) {
	var out *store.EmailChange
	err := s.store.Audited(ctx, &id, "user.email_change_requested", "user", func(tx pgx.Tx) (_ int64, err error) {
		if out, err = s.store.StartEmailChange(ctx, tx, id, newEmail, tokenHash, expires); err != nil {
			return 0, err
		}
		return id, send()
	})
	return out, err
}

// ConfirmEmailChange makes the email change a confirmation link names
// (store.ConfirmEmailChange), audited as "user.email_changed" by the member.
func (s *Service) ConfirmEmailChange(ctx context.Context, tokenHash []byte) (*store.EmailChange, error) {
	var out *store.EmailChange
	err := s.store.Transact(ctx, func(tx pgx.Tx) (err error) {
		if out, err = s.store.ConfirmEmailChange(ctx, tx, tokenHash); err != nil {
			return err
		}
		return s.store.Audit(ctx, tx, &out.UserID, "user", "user.email_changed", "user", out.UserID)
	})
	return out, err
}

// PendingEmailChange returns member id's unexpired email change, or
// store.ErrNotFound.
func (s *Service) PendingEmailChange(ctx context.Context, id int64) (*store.EmailChange, error) {
	return s.store.PendingEmailChange(ctx, id)
}

// EmailChangeByHash returns the change a confirmation link names; see
// store.EmailChangeByHash.
func (s *Service) EmailChangeByHash(ctx context.Context, tokenHash []byte) (*store.EmailChange, error) {
	return s.store.EmailChangeByHash(ctx, tokenHash)
}

// CancelEmailChange drops member id's pending email change, audited as
// "user.email_change_cancelled" when there was one.
func (s *Service) CancelEmailChange(ctx context.Context, id int64) error {
	return s.store.Transact(ctx, func(tx pgx.Tx) error {
		had, err := s.store.CancelEmailChange(ctx, tx, id)
		if err != nil || !had {
			return err
		}
		return s.store.Audit(ctx, tx, &id, "user", "user.email_change_cancelled", "user", id)
	})
}
