package dump

import "context"

// SetTestHooks bounds the output Dump holds while it counts rows at limit,
// runs count before the counts and read after each read of that output,
// and returns what undoes it.
func SetTestHooks(limit int, count func(context.Context) error, read func(held int)) (undo func()) {
	old, oldHooks := earlyLimit, testHooks
	earlyLimit, testHooks.count, testHooks.read = limit, count, read
	return func() { earlyLimit, testHooks = old, oldHooks }
}
