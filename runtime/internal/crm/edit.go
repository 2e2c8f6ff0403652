package crm

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// MergeContactsChoosing is MergeContacts where ch picks, field by field,
// whose value the merged contact keeps; see store.MergeContactsChoosing.
func (s *Service) MergeContactsChoosing(ctx context.Context, actor *int64, keepID, dropID int64, ch *store.MergeChoice) (*store.Contact, error) {
	var out *store.Contact
	err := s.Store.Audited(ctx, actor, "contact.merged", "contact", func(tx pgx.Tx) (_ int64, err error) {
		if out, err = s.Store.MergeContactsChoosing(ctx, tx, keepID, dropID, ch); err != nil {
			return 0, err
		}
		if err := s.Store.Audit(ctx, tx, actor, "user", "contact.merged", "contact", dropID); err != nil {
			return 0, err
		}
		return keepID, nil
	})
	return out, err
}

// Deals lists a company's or a contact's deals; see store.Deals.
func (s *Service) Deals(ctx context.Context, f store.DealFilter) ([]*store.Deal, error) {
	return s.Store.Deals(ctx, f)
}

// EditDeal replaces a deal's fields and, when d.StageID differs from its
// stage, moves it there, in one transaction: "deal.updated", and
// "deal.moved" when it moved, are audited with it.
func (s *Service) EditDeal(ctx context.Context, actor *int64, d *store.Deal) (*store.Deal, error) {
	var out *store.Deal
	err := s.Store.Audited(ctx, actor, "deal.updated", "deal", func(tx pgx.Tx) (_ int64, err error) {
		stage := d.StageID
		if out, err = s.Store.UpdateDeal(ctx, tx, d); err != nil {
			return 0, err
		}
		if stage != 0 && stage != out.StageID {
			if out, err = s.Store.MoveDeal(ctx, tx, d.ID, stage); err != nil {
				return 0, err
			}
			if err := s.Store.Audit(ctx, tx, actor, "user", "deal.moved", "deal", d.ID); err != nil {
				return 0, err
			}
		}
		return d.ID, nil
	})
	return out, err
}
