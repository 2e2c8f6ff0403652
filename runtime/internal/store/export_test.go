package store

import "context"

// IncomingStats are the counts of incomingStats.
type IncomingStats struct{ Statements, Batched, Alone, Failed int64 }

// IncomingStats says what became of RecordIncoming's calls so far.
func (s *Store) IncomingStats() IncomingStats {
	st := &s.incoming.stats
	return IncomingStats{st.statements.Load(), st.batched.Load(), st.alone.Load(), st.failed.Load()}
}

// RecordIncomingTogether is RecordIncoming for each of ins, queued at
// once so that they share a batch.
func (s *Store) RecordIncomingTogether(ctx context.Context, ins []Incoming) ([]*IncomingResult, []error) {
	calls := make([]*incomingCall, len(ins))
	for i, in := range ins {
		calls[i] = &incomingCall{in: in, done: make(chan struct{})}
	}
	s.incoming.enqueue(s, calls...)
	res, errs := make([]*IncomingResult, len(ins)), make([]error, len(ins))
	for i, c := range calls {
		<-c.done
		res[i], errs[i] = s.incomingAnswered(ctx, c)
	}
	return res, errs
}

// SetIncomingFlushers sets how many batches may be stored at once, and
// the backlog that starts another, until the returned function restores
// them.
func SetIncomingFlushers(n, backlog int) (restore func()) {
	oldN, oldBacklog := incomingFlushers, incomingBacklog
	incomingFlushers, incomingBacklog = n, backlog
	return func() { incomingFlushers, incomingBacklog = oldN, oldBacklog }
}
