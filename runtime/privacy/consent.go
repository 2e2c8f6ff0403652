package privacy

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// MarketingAllowed says whether the workspace may send a contact marketing:
// false when the contact opted out of marketing (objected), when their
// processing is restricted, or when there is no such contact (erased, say).
//
// It is the one check of a person's objection: every campaign, broadcast
// or automation that sends a contact anything but an answer to their own
// conversation must call it for each contact, in the transaction that
// queues the send where there is one, and send nothing when it returns
// false or an error.
func MarketingAllowed(ctx context.Context, q Querier, contactID int64) (bool, error) {
	var optOut, restricted bool
	err := q.QueryRow(ctx, `SELECT marketing_opt_out, processing_restricted FROM contacts WHERE id = $1`, contactID).Scan(&optOut, &restricted)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking contact %d's marketing consent: %w", contactID, err)
	}
	return !optOut && !restricted, nil
}
