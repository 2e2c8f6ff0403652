package controllers

import (
	"fmt"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

func spreadWorkspace(i int) *tenancyv1.Workspace {
	return &tenancyv1.Workspace{ObjectMeta: metav1.ObjectMeta{
		Name: fmt.Sprintf("ws-%d", i),
		UID:  types.UID(fmt.Sprintf("5d1c0a7e-%04x-4c1e-9b7a-%012x", i%0xffff, i)),
	}}
}

// 2,000 workspaces on one schedule start over the whole window, evenly:
// no minute of an hour's window holds more than about twice its share.
func TestSpreadOffsetsCoverTheWindow(t *testing.T) {
	const n, window = 2000, time.Hour
	perMinute := map[int]int{}
	for i := 0; i < n; i++ {
		ws := spreadWorkspace(i)
		off := spreadOffset(ws, "backup", window)
		if off < 0 || off >= window {
			t.Fatalf("offset %s outside [0, %s)", off, window)
		}
		if again := spreadOffset(ws, "backup", window); again != off {
			t.Fatalf("offset not stable: %s then %s", off, again)
		}
		perMinute[int(off/time.Minute)]++
	}
	if len(perMinute) != 60 {
		t.Fatalf("offsets fell in %d of the window's 60 minutes", len(perMinute))
	}
	for m, c := range perMinute {
		if c > 2*n/60 {
			t.Errorf("minute %d of the window holds %d of %d workspaces (share %d)", m, c, n, n/60)
		}
	}
	ws := spreadWorkspace(1)
	if spreadOffset(ws, "backup", window) == spreadOffset(ws, "retention", window) {
		t.Error("a workspace's backup and retention offsets are the same: its two kinds of work would start together")
	}
	if spreadOffset(ws, "backup", 0) != 0 {
		t.Error("a zero window must give no offset")
	}
}

func TestBackupDue(t *testing.T) {
	daily, _ := cron.ParseStandard("0 3 * * *")
	every15, _ := cron.ParseStandard("*/15 * * * *")
	slot := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	started := slot.Add(-48 * time.Hour)
	ws := spreadWorkspace(7)

	r := &WorkspaceReconciler{Started: started}
	if got := r.backupDue(ws, daily, slot); !got.Equal(slot) {
		t.Errorf("no spread: due %s, want the slot %s", got, slot)
	}

	r.BackupSpread = time.Hour
	off := spreadOffset(ws, "backup", time.Hour)
	if got := r.backupDue(ws, daily, slot); !got.Equal(slot.Add(off)) {
		t.Errorf("spread 1h, daily: due %s, want the slot plus the offset %s", got, off)
	}
	// The window never reaches the next slot.
	q := slot.Add(15 * time.Minute)
	got := r.backupDue(ws, every15, q)
	if got.Before(q) || !got.Before(q.Add(15*time.Minute)) || !got.Equal(q.Add(spreadOffset(ws, "backup", 15*time.Minute))) {
		t.Errorf("spread 1h, every 15 minutes: due %s, want the slot plus an offset under 15m", got)
	}

	// A slot missed while the operator was down waits for the workspace's
	// turn after the start, not the start itself.
	r.Started = slot.Add(50 * time.Hour)
	if got := r.backupDue(ws, daily, slot.Add(24*time.Hour)); !got.Equal(r.Started.Add(off)) {
		t.Errorf("missed slot: due %s, want the start plus the offset (%s)", got, r.Started.Add(off))
	}
	// A slot after the start is not moved.
	if got := r.backupDue(ws, daily, slot.Add(72*time.Hour)); !got.Equal(slot.Add(72 * time.Hour).Add(off)) {
		t.Errorf("slot after the start: due %s", got)
	}
}

func TestRetentionDueAfterOutage(t *testing.T) {
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	started := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	r := &RetentionReconciler{Interval: time.Hour, Spread: 30 * time.Minute, Started: started}

	// Not overdue at the start: an interval after the last run, unchanged.
	ws := spreadWorkspace(3)
	ws.CreationTimestamp = metav1.NewTime(created)
	last := started.Add(-10 * time.Minute)
	st := &tenancyv1.WorkspaceRetentionStatus{LastRun: &metav1.Time{Time: last}}
	if got := r.due(ws, st); !got.Equal(last.Add(time.Hour)) {
		t.Errorf("due %s, want an interval after the last run (%s)", got, last.Add(time.Hour))
	}

	// Overdue (the operator was down for a day): 2,000 workspaces are spread
	// over the window after the start, none before it.
	perMinute := map[int]int{}
	for i := 0; i < 2000; i++ {
		ws := spreadWorkspace(i)
		ws.CreationTimestamp = metav1.NewTime(created)
		st := &tenancyv1.WorkspaceRetentionStatus{LastRun: &metav1.Time{Time: started.Add(-25 * time.Hour)}}
		due := r.due(ws, st)
		if due.Before(started) || !due.Before(started.Add(30*time.Minute)) {
			t.Fatalf("overdue run due at %s, want within 30m after the start %s", due, started)
		}
		perMinute[int(due.Sub(started)/time.Minute)]++
	}
	if len(perMinute) != 30 {
		t.Errorf("overdue runs fell in %d of the window's 30 minutes", len(perMinute))
	}

	// The window is at most the interval.
	r.Spread = 5 * time.Hour
	st = &tenancyv1.WorkspaceRetentionStatus{LastRun: &metav1.Time{Time: started.Add(-25 * time.Hour)}}
	if due := r.due(ws, st); !due.Before(started.Add(time.Hour)) {
		t.Errorf("due %s: the window must be clamped to the 1h interval", due)
	}
	// No spread: overdue runs are due at once, as before.
	r.Spread = 0
	if due := r.due(ws, st); !due.Equal(started.Add(-24 * time.Hour)) {
		t.Errorf("no spread: due %s, want the overdue time", due)
	}
}
