package receipts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/switchboard-dev/switchboard/controllers/receipts"
)

type purge struct {
	Backup string `json:"backup"`
	Writer int    `json:"writer"`
	N      int    `json:"n"`
}

// appendN appends n receipts to log and returns them.
func appendN(t *testing.T, ctx context.Context, log *receipts.Log, n int) []receipts.Entry {
	t.Helper()
	var out []receipts.Entry
	for i := range n {
		e, err := log.Append(ctx, receipts.KindBackupPurged, "acme", "uid-acme", "Backup/acme-"+strconv.Itoa(i),
			purge{Backup: "acme-" + strconv.Itoa(i), N: i})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// verified verifies the chain and fails t unless it holds want entries.
func verified(t *testing.T, ctx context.Context, log *receipts.Log, want int64) receipts.Report {
	t.Helper()
	rep, err := log.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Entries != want {
		t.Fatalf("Verify = %d entries, broken %v; want %d entries and no break", rep.Entries, rep.Broken, want)
	}
	return rep
}

// exported returns the chain as Export writes it, decoded.
func exported(t *testing.T, ctx context.Context, log *receipts.Log) []receipts.Entry {
	t.Helper()
	var buf bytes.Buffer
	if err := log.Export(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	var out []receipts.Entry
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("the export is not a JSON array of entries: %v\n%s", err, buf.String())
	}
	return out
}

func head(t *testing.T, ctx context.Context, ns string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: receipts.HeadName}, cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

func segment(t *testing.T, ctx context.Context, ns string, n int) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: receipts.SegmentName(n)}, cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

// setHead rewinds or moves the head, as a crash or an attacker would leave it.
func setHead(t *testing.T, ctx context.Context, ns string, seq int64, hash string, seg int) {
	t.Helper()
	cm := head(t, ctx, ns)
	cm.Data["seq"], cm.Data["hash"], cm.Data["segment"] = strconv.FormatInt(seq, 10), hash, strconv.Itoa(seg)
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentWriters appends from 8 goroutines through 4 Logs (as if
// from 4 processes, two controllers each), across segment boundaries:
// nothing is lost, nothing doubled, and it is one chain.
func TestConcurrentWriters(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	const writers, each = 8, 12
	logs := make([]*receipts.Log, writers/2)
	for i := range logs {
		logs[i] = receipts.New(k8s, ns, receipts.Options{SegmentEntries: 10})
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				_, err := logs[w%len(logs)].Append(ctx, receipts.KindBackupPurged, "acme", "uid-acme", "Backup/x", purge{Writer: w, N: i})
				if err != nil {
					errs <- fmt.Errorf("writer %d, append %d: %w", w, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rep := verified(t, ctx, logs[0], writers*each)
	if rep.Pending || rep.Head == nil || rep.Head.Seq != writers*each || rep.Head.Segment != writers*each/10+1 {
		t.Fatalf("head %+v, pending %v; want seq %d in segment %d", rep.Head, rep.Pending, writers*each, writers*each/10+1)
	}
	seen := map[[2]int]int64{}
	for _, e := range exported(t, ctx, logs[0]) {
		var p purge
		if err := json.Unmarshal(e.Details, &p); err != nil {
			t.Fatal(err)
		}
		if s, dup := seen[[2]int{p.Writer, p.N}]; dup {
			t.Fatalf("writer %d's append %d is both entry %d and %d", p.Writer, p.N, s, e.Seq)
		}
		seen[[2]int{p.Writer, p.N}] = e.Seq
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct appends in the chain; want %d", len(seen), writers*each)
	}
}

// TestCrashBetweenEntryAndHead leaves an entry written with the head not
// moved onto it, as a writer that died between the two writes does, in
// the middle of a segment and at a segment boundary. The chain verifies
// (the entry pending), and the next append adopts it and follows it.
func TestCrashBetweenEntryAndHead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		segments int // segment size; the crash is at entry 3
	}{
		{"within a segment", 10},
		{"at a segment boundary", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			ns := namespace(t)
			log := receipts.New(k8s, ns, receipts.Options{SegmentEntries: tc.segments})
			es := appendN(t, ctx, log, 2)
			e3, appended, err := log.AppendOnce(ctx, "backup.purged/uid-3", receipts.KindBackupPurged, "acme", "uid-acme", "Backup/acme-3", purge{N: 3})
			if err != nil || !appended || e3.Seq != 3 {
				t.Fatalf("AppendOnce = seq %d, appended %v, %v; want entry 3", e3.Seq, appended, err)
			}
			if found, ok, err := log.Lookup(ctx, "backup.purged/uid-3"); err != nil || !ok || found.Hash != e3.Hash {
				t.Fatalf("Lookup = %+v, %v, %v; want entry 3", found, ok, err)
			}
			setHead(t, ctx, ns, 2, es[1].Hash, 1) // the crash: entry 3 written, head still at 2

			rep := verified(t, ctx, receipts.New(k8s, ns, receipts.Options{}), 3)
			if !rep.Pending || rep.Head.Seq != 2 {
				t.Fatalf("report %+v; want entry 3 pending behind head 2", rep)
			}

			// The controller that crashed retries its AppendOnce: a fresh
			// process finds the pending entry and appends nothing.
			restarted := receipts.New(k8s, ns, receipts.Options{SegmentEntries: tc.segments})
			again, appended, err := restarted.AppendOnce(ctx, "backup.purged/uid-3", receipts.KindBackupPurged, "acme", "uid-acme", "Backup/acme-3", purge{N: 3})
			if err != nil || appended || again.Seq != 3 || again.Hash != e3.Hash {
				t.Fatalf("retried AppendOnce = seq %d, appended %v, %v; want entry 3 found", again.Seq, appended, err)
			}
			e4, err := restarted.Append(ctx, receipts.KindRetentionRun, "acme", "uid-acme", "RetentionPolicy/default", map[string]int{"messages": 10})
			if err != nil {
				t.Fatal(err)
			}
			if e4.Seq != 4 || e4.Prev != e3.Hash {
				t.Fatalf("next entry is seq %d after %s; want 4 after entry 3 (%s)", e4.Seq, e4.Prev, e3.Hash)
			}
			rep = verified(t, ctx, restarted, 4)
			wantSeg := 1
			if tc.segments == 2 {
				wantSeg = 2
			}
			if rep.Pending || rep.Head.Seq != 4 || rep.Head.Segment != wantSeg {
				t.Fatalf("head %+v pending %v; want entry 4 in segment %d", rep.Head, rep.Pending, wantSeg)
			}
		})
	}
}

// TestAppendOnce appends a key once, whether asked twice in a row, by 8
// goroutines of different processes at once, or after the entry rolled
// into an older segment and the process restarted.
func TestAppendOnce(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	log := receipts.New(k8s, ns, receipts.Options{SegmentEntries: 3})
	first, appended, err := log.AppendOnce(ctx, "backup.purged/uid-1", receipts.KindBackupPurged, "acme", "uid-acme", "Backup/acme-1", purge{N: 1})
	if err != nil || !appended || first.Seq != 1 {
		t.Fatalf("first AppendOnce = seq %d, appended %v, %v", first.Seq, appended, err)
	}
	second, appended, err := log.AppendOnce(ctx, "backup.purged/uid-1", receipts.KindBackupPurged, "acme", "uid-acme", "Backup/acme-1", purge{N: 1})
	if err != nil || appended || second.Hash != first.Hash {
		t.Fatalf("second AppendOnce = seq %d, appended %v, %v; want entry 1 back", second.Seq, appended, err)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	count := 0
	for w := range 8 {
		wg.Go(func() {
			l := receipts.New(k8s, ns, receipts.Options{SegmentEntries: 3})
			_, appended, err := l.AppendOnce(ctx, "transitkey.destroyed/uid-acme", receipts.KindTransitKeyDestroyed, "acme", "uid-acme", "TransitKey/ws-acme", map[string]int{"writer": w})
			if err != nil {
				t.Error(err)
			}
			if appended {
				mu.Lock()
				count++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if count != 1 {
		t.Fatalf("8 concurrent AppendOnce of one key appended %d entries; want 1", count)
	}

	appendN(t, ctx, log, 5) // entry 1 is now two segments back
	restarted := receipts.New(k8s, ns, receipts.Options{SegmentEntries: 3})
	again, appended, err := restarted.AppendOnce(ctx, "backup.purged/uid-1", receipts.KindBackupPurged, "acme", "uid-acme", "Backup/acme-1", purge{N: 1})
	if err != nil || appended || again.Seq != 1 || again.Hash != first.Hash {
		t.Fatalf("AppendOnce after a restart = seq %d, appended %v, %v; want entry 1 back", again.Seq, appended, err)
	}
	other, appended, err := restarted.AppendOnce(ctx, "backup.purged/uid-2", receipts.KindBackupPurged, "acme", "uid-acme", "Backup/acme-2", purge{N: 2})
	if err != nil || !appended || other.Seq != 8 {
		t.Fatalf("AppendOnce of a new key = seq %d, appended %v, %v; want entry 8", other.Seq, appended, err)
	}
	verified(t, ctx, log, 8)
}

// TestSegmentsRollOver fills segments by count and by size.
func TestSegmentsRollOver(t *testing.T) {
	t.Run("by count", func(t *testing.T) {
		ctx := testContext(t)
		ns := namespace(t)
		log := receipts.New(k8s, ns, receipts.Options{SegmentEntries: 5})
		appendN(t, ctx, log, 12)
		for n, want := range map[int][]string{1: {"1.json", "5.json"}, 2: {"6.json", "10.json"}, 3: {"11.json", "12.json"}} {
			cm := segment(t, ctx, ns, n)
			if _, ok := cm.Data[want[0]]; !ok {
				t.Errorf("segment %d lacks %s: %v", n, want[0], keys(cm))
			}
			if _, ok := cm.Data[want[1]]; !ok {
				t.Errorf("segment %d lacks %s: %v", n, want[1], keys(cm))
			}
			if len(cm.Data) != map[int]int{1: 5, 2: 5, 3: 2}[n] {
				t.Errorf("segment %d holds %v", n, keys(cm))
			}
		}
		rep := verified(t, ctx, log, 12)
		if rep.Head.Segment != 3 {
			t.Fatalf("head in segment %d; want 3", rep.Head.Segment)
		}
		// A writer configured otherwise keeps the log's own limits: its
		// head fixed them, so no two writers disagree on where seq 16 goes.
		appendN(t, ctx, receipts.New(k8s, ns, receipts.Options{SegmentEntries: 100}), 4)
		if cm := segment(t, ctx, ns, 4); len(cm.Data) != 1 || cm.Data["16.json"] == "" {
			t.Fatalf("segment 4 holds %v; want entry 16 alone", keys(cm))
		}
		verified(t, ctx, log, 16)
	})
	t.Run("by size", func(t *testing.T) {
		ctx := testContext(t)
		ns := namespace(t)
		log := receipts.New(k8s, ns, receipts.Options{SegmentBytes: 2000})
		for i := range 10 {
			if _, err := log.Append(ctx, receipts.KindWorkspaceDeleted, "acme", "uid", "Workspace/acme",
				map[string]string{"note": fmt.Sprintf("%0600d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		total := 0
		for n := 1; n <= 4; n++ {
			cm := segment(t, ctx, ns, n)
			size := 0
			for k, v := range cm.Data {
				size += len(k) + len(v)
			}
			if size >= 2000+1000 {
				t.Errorf("segment %d holds %d bytes", n, size)
			}
			total += len(cm.Data)
		}
		if total != 10 {
			t.Fatalf("4 segments hold %d entries; want 10", total)
		}
		verified(t, ctx, log, 10)
	})
}

func keys(cm *corev1.ConfigMap) []string {
	var out []string
	for k := range cm.Data {
		out = append(out, k)
	}
	return out
}

// TestVerifyNamesTheBrokenLink tampers with a chain of 8 entries (in
// segments of 3) in each way an attacker might, and checks Verify names
// the entry where it happened.
func TestVerifyNamesTheBrokenLink(t *testing.T) {
	edit := func(t *testing.T, ctx context.Context, ns string, seq int, f func(map[string]any)) {
		t.Helper()
		cm := segment(t, ctx, ns, (seq-1)/3+1)
		var e map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(cm.Data[strconv.Itoa(seq)+".json"])))
		dec.UseNumber()
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		f(e)
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		cm.Data[strconv.Itoa(seq)+".json"] = string(b)
		if err := k8s.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(t *testing.T, ctx context.Context, ns string, seq int) {
		cm := segment(t, ctx, ns, (seq-1)/3+1)
		delete(cm.Data, strconv.Itoa(seq)+".json")
		if err := k8s.Update(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, ctx context.Context, ns string, es []receipts.Entry)
		seq    int64
		reason receipts.Reason
	}{
		{"edited details", func(t *testing.T, ctx context.Context, ns string, _ []receipts.Entry) {
			edit(t, ctx, ns, 5, func(e map[string]any) { e["details"].(map[string]any)["n"] = json.Number("40") })
		}, 5, receipts.HashMismatch},
		{"edited details, rehashed", func(t *testing.T, ctx context.Context, ns string, _ []receipts.Entry) {
			edit(t, ctx, ns, 5, func(e map[string]any) {
				e["details"].(map[string]any)["n"] = json.Number("40")
				b, _ := json.Marshal(e)
				h, err := receipts.Hash(b)
				if err != nil {
					t.Fatal(err)
				}
				e["hash"] = h
			})
		}, 6, receipts.PrevMismatch},
		{"deleted entry", func(t *testing.T, ctx context.Context, ns string, _ []receipts.Entry) { remove(t, ctx, ns, 4) }, 4, receipts.MissingEntry},
		{"deleted segment", func(t *testing.T, ctx context.Context, ns string, _ []receipts.Entry) {
			if err := k8s.Delete(ctx, segment(t, ctx, ns, 2)); err != nil {
				t.Fatal(err)
			}
		}, 4, receipts.MissingEntry},
		{"deleted last entry", func(t *testing.T, ctx context.Context, ns string, _ []receipts.Entry) { remove(t, ctx, ns, 8) }, 8, receipts.MissingEntry},
		{"entry moved to another seq", func(t *testing.T, ctx context.Context, ns string, _ []receipts.Entry) {
			cm := segment(t, ctx, ns, 1)
			cm.Data["2.json"] = cm.Data["1.json"]
			if err := k8s.Update(ctx, cm); err != nil {
				t.Fatal(err)
			}
		}, 2, receipts.Malformed},
		{"head rewound", func(t *testing.T, ctx context.Context, ns string, es []receipts.Entry) {
			setHead(t, ctx, ns, 5, es[4].Hash, 2)
		}, 5, receipts.HeadMismatch},
		{"head hash edited", func(t *testing.T, ctx context.Context, ns string, es []receipts.Entry) {
			setHead(t, ctx, ns, 8, es[6].Hash, 3)
		}, 8, receipts.HeadMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			ns := namespace(t)
			log := receipts.New(k8s, ns, receipts.Options{SegmentEntries: 3})
			es := appendN(t, ctx, log, 8)
			verified(t, ctx, log, 8)
			tc.tamper(t, ctx, ns, es)
			rep, err := log.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() || rep.Broken.Seq != tc.seq || rep.Broken.Reason != tc.reason {
				t.Fatalf("Verify broken = %v; want entry %d: %s", rep.Broken, tc.seq, tc.reason)
			}
			t.Log(rep.Broken)
		})
	}
}

// TestAppendRefusesPersonalData keeps email addresses out of the chain,
// whether in the details or in a name.
func TestAppendRefusesPersonalData(t *testing.T) {
	ctx := testContext(t)
	ns := namespace(t)
	log := receipts.New(k8s, ns, receipts.Options{})
	appendN(t, ctx, log, 1)
	for _, tc := range []struct {
		object  string
		details any
	}{
		{"Backup/acme-1", map[string]any{"erased": []string{"contact 17", "jane.doe@example.com"}}},
		{"Contact/jane.doe@example.com", nil},
	} {
		if _, err := log.Append(ctx, receipts.KindRetentionRun, "acme", "uid", tc.object, tc.details); !errors.Is(err, receipts.ErrPersonalData) {
			t.Errorf("Append(%s, %v) = %v; want ErrPersonalData", tc.object, tc.details, err)
		}
	}
	if _, _, err := log.AppendOnce(ctx, "k", receipts.KindRetentionRun, "acme", "uid", "x", map[string]string{"owner": "ops@example.com"}); !errors.Is(err, receipts.ErrPersonalData) {
		t.Errorf("AppendOnce = %v; want ErrPersonalData", err)
	}
	verified(t, ctx, log, 1)
}
