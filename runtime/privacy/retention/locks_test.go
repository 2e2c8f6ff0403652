package retention

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// TestPurgeKeepsInboxAnswering purges 24,000 messages (with their delivery
// events, attachments, webhooks and usage) while other sessions, in a loop,
// list the inbox with the runtime's own query and take the locks a writer
// takes on the rows being purged: a share lock on a conversation and on a
// message, and an update lock on their contact (whose activity each batch
// records). Each probe runs with lock_timeout = 100ms, so it fails if the
// purge makes it wait for a lock longer than that: waiting for a lock, not
// wall time of a slow query. No probe may fail.
//
// A batch's locks last as long as its statements take, and on a machine
// with more runnable tasks than cores every statement takes longer: with a
// load average of L on C cores, the 100ms becomes 100ms * L/C (when L > C),
// so that the test measures the purge and not the machine's other work.
func TestPurgeKeepsInboxAnswering(t *testing.T) {
	limit := time.Duration(float64(100*time.Millisecond) * max(1, loadPerCore(t)))
	st, _ := newDB(t, "")
	w := newWorld(t, st.Pool)
	bulk(t, st, w.agent, 2000, 12)
	convs := ids64(t, st.Pool, `SELECT id FROM conversations WHERE subject LIKE 'bulk %'`)
	msgs := ids64(t, st.Pool, `SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.subject LIKE 'bulk %'`)
	bulkContact := id(t, st.Pool, `SELECT id FROM contacts WHERE name = 'Bulk Person'`)

	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var (
		mu       sync.Mutex
		blocked  []string
		waits    []time.Duration
		lists    []time.Duration
		probeErr error
	)
	probe := func(c *pgx.Conn, what, sql string, arg int64) {
		start := time.Now()
		_, err := c.Exec(ctx, sql, arg)
		took := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == "55P03":
			blocked = append(blocked, what)
		case err != nil && ctx.Err() == nil:
			probeErr = err
		case err == nil:
			waits = append(waits, took)
		}
	}
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pgx.Connect(ctx, pgServer.DSN("postgres", "", st.Pool.Config().ConnConfig.Database))
			if err != nil {
				probeErr = err
				return
			}
			defer c.Close(bg)
			c.Exec(ctx, fmt.Sprintf("SET lock_timeout = '%dms'", limit.Milliseconds()))
			// A busy inbox, not a busy loop: a loop that never pauses would
			// take the CPU the purge needs, and measure the machine.
			for ; ctx.Err() == nil; time.Sleep(2 * time.Millisecond) {
				switch i {
				case 0:
					probe(c, "conversation FOR SHARE", `SELECT 1 FROM conversations WHERE id = $1 FOR SHARE`, convs[rand.IntN(len(convs))])
				case 1:
					probe(c, "message FOR SHARE", `SELECT 1 FROM messages WHERE id = $1 FOR SHARE`, msgs[rand.IntN(len(msgs))])
				case 2:
					// A writer on the contact, in its own transaction.
					probe(c, "contact FOR UPDATE", `SELECT 1 FROM contacts WHERE id = $1 FOR UPDATE`, bulkContact)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ; ctx.Err() == nil; time.Sleep(5 * time.Millisecond) {
			start := time.Now()
			if _, err := st.Conversations(ctx, store.View{Limit: 50}); err != nil && ctx.Err() == nil {
				mu.Lock()
				probeErr = err
				mu.Unlock()
			}
			mu.Lock()
			lists = append(lists, time.Since(start))
			mu.Unlock()
		}
	}()

	time.Sleep(100 * time.Millisecond)
	rep, err := Enforce(bg, st.Pool, []Rule{{Conversations, retain, Delete}}, now, Options{})
	cancel()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// Rows a probe held were skipped (SKIP LOCKED), for the next run.
	rest, err := Enforce(bg, st.Pool, []Rule{{Conversations, retain, Delete}}, now, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, m := rep.Categories[0].Deleted["messages"], rest.Categories[0].Deleted["messages"]; n+m < 24000 || m > 1000 {
		t.Fatalf("the purge deleted %d messages and the next run %d more, want at least 24,000, nearly all in the first", n, m)
	}
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	// A batch holds its rows' locks until it commits, and no longer: a probe
	// may wait as long as one batch takes. Waiting past the limit is a
	// failure unless a batch itself ran that long (a loaded machine), since
	// then the wait proves nothing about locks outliving their batch.
	if len(blocked) > 0 && rep.LongestBatch < limit {
		t.Errorf("%d probes waited over %s for a lock the purge held, though no batch took that long (longest %s): %v",
			len(blocked), limit, rep.LongestBatch.Round(time.Millisecond), blocked[:min(len(blocked), 10)])
	} else if len(blocked) > 0 {
		t.Logf("%d probes waited over %s, no longer than the longest batch (%s) on this loaded machine", len(blocked), limit, rep.LongestBatch.Round(time.Millisecond))
	}
	if len(waits) < 50 || len(lists) < 10 {
		t.Errorf("only %d lock probes and %d list queries ran during the purge", len(waits), len(lists))
	}
	t.Logf("lock wait limit %s (load per core %.1f); purge: %d messages in %s, %d batches, longest %s; %d lock probes (max %s), %d inbox lists (p99 %s)",
		limit, loadPerCore(t), rep.Categories[0].Deleted["messages"], rep.Duration.Round(time.Millisecond), rep.Batches, rep.LongestBatch.Round(time.Millisecond),
		len(waits), pct(waits, 100), len(lists), pct(lists, 99))
}

// loadPerCore is the 1-minute load average per CPU.
func loadPerCore(t testing.TB) float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 1
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l / float64(runtime.NumCPU())
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := min(max((len(s)*p+99)/100, 1), len(s))
	return s[i-1].Round(100 * time.Microsecond)
}
