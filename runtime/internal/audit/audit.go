// Package audit is the service that reads the audit log. The services that
// make changes write its entries, each in the transaction of its change.
package audit

import (
	"context"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Service is the workspace's audit log.
type Service struct {
	store *store.Store
}

// New returns the service over st.
func New(st *store.Store) *Service { return &Service{store: st} }

// Log lists entries, newest first.
func (s *Service) Log(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	return s.store.AuditLog(ctx, f)
}
