package controllers

import (
	"hash/fnv"
	"time"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

// Periodic work (scheduled backups, retention runs) is spread so that a
// thousand workspaces on one schedule do not start at the same instant,
// and an operator that comes back after an outage does not run everything
// it missed at once:
//
//   - each workspace has its own offset for each kind of work, a hash of its
//     UID, the same on every pass and every replica, so status shows one
//     stable next time and a resync writes nothing;
//   - a scheduled backup is taken at its slot plus the workspace's offset in
//     the spread window (--periodic-spread, clamped to the gap between two
//     slots of the schedule);
//   - work that fell due before the operator started (missed during an
//     outage) is done at the operator's start plus the offset, so the
//     backlog is spread over the window instead of run back to back.
//
// The concurrency caps (--max-concurrent-backups, the retention
// controller's two workers) still bound what runs at once.

// spreadOffset is ws's offset for kind in a window: 0 when the window is
// not positive.
func spreadOffset(ws *tenancyv1.Workspace, kind string, window time.Duration) time.Duration {
	if window <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(ws.UID))
	return time.Duration(h.Sum64() % uint64(window))
}

// catchUp is when work that fell due at due is done: at due, or, if due
// came before the operator started (the work was missed while it was down),
// at the start plus ws's offset for kind in the window.
func catchUp(ws *tenancyv1.Workspace, kind string, due, started time.Time, window time.Duration) time.Time {
	if window <= 0 || started.IsZero() || !due.Before(started) {
		return due
	}
	return started.Add(spreadOffset(ws, kind, window))
}

// scheduleGap is the time from slot to the schedule's next slot after it,
// or 0 when there is none.
func scheduleGap(next func(time.Time) time.Time, slot time.Time) time.Duration {
	n := next(slot)
	if n.IsZero() || !n.After(slot) {
		return 0
	}
	return n.Sub(slot)
}
