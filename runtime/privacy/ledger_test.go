package privacy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-dev/switchboard/test/harness"
)

var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func entry(i int) Entry {
	return Entry{Kind: KindContact, SubjectID: int64(i + 1), ErasedAt: base.Add(time.Duration(i) * time.Second), RequestID: fmt.Sprintf("req-%d", i)}
}

// TestLedgerConcurrentAppend appends from 8 goroutines, each with a ledger
// and a Vault client of its own, as 8 runtime replicas would, through many
// batch boundaries: nothing is lost and nothing is doubled.
func TestLedgerConcurrentAppend(t *testing.T) {
	ctx := context.Background()
	prefix := ledgerPrefix("concurrent")
	const writers, each, batch = 8, 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, _ := vaultClient(t, harness.RootToken)
			l := NewLedger(c, kvMount, prefix)
			l.batchSize = batch
			for i := range each {
				if err := l.Append(ctx, entry(g*each+i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l := NewLedger(rootClient(t), kvMount, prefix)
	got := mustSince(t, l)
	ids := map[int64]int{}
	for _, e := range got {
		ids[e.SubjectID]++
	}
	if len(got) != writers*each || len(ids) != writers*each {
		t.Fatalf("the ledger holds %d entries of %d subjects, want %d of %d", len(got), len(ids), writers*each, writers*each)
	}
	if !slices.IsSortedFunc(got, func(a, b Entry) int { return a.ErasedAt.Compare(b.ErasedAt) }) {
		t.Error("Since's entries are not in order")
	}
	h, _, err := l.readHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every full batch is sealed, since later entries went past it.
	if want := (writers*each + batch - 1) / batch; len(h.Sealed) != want-1 || h.Current != want {
		t.Errorf("%d sealed batches and current %d, want %d and %d", len(h.Sealed), h.Current, want-1, want)
	}
	for _, s := range h.Sealed {
		if s.Count != batch {
			t.Errorf("sealed batch %d holds %d entries, want %d", s.N, s.Count, batch)
		}
	}
}

// TestLedgerBatches appends 2,500 entries, which fill two batches of 1,000
// and start a third, and checks that Since reads only the batches that can
// hold what it returns.
func TestLedgerBatches(t *testing.T) {
	ctx := context.Background()
	c, reqs := vaultClient(t, harness.RootToken)
	l := NewLedger(c, kvMount, ledgerPrefix("batches"))
	const n = 2500
	// In chunks, and one entry at a time across the first boundary.
	for i := 0; i < n; {
		size := 100
		if i >= 990 && i < 1010 {
			size = 1
		}
		chunk := make([]Entry, 0, size)
		for j := i; j < min(i+size, n); j++ {
			chunk = append(chunk, entry(j))
		}
		if err := l.Append(ctx, chunk...); err != nil {
			t.Fatal(err)
		}
		i += len(chunk)
	}
	h, _, err := l.readHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Current != 3 || len(h.Sealed) != 2 || h.Sealed[0].Count != 1000 || h.Sealed[1].Count != 1000 ||
		!h.Sealed[1].First.Equal(entry(1000).ErasedAt) || !h.Sealed[1].Last.Equal(entry(1999).ErasedAt) {
		t.Fatalf("head %+v: want batches 1 and 2 sealed with 1,000 entries each, 3 current", h)
	}
	dataPath := kvMount + "/data/" + l.Prefix() + "/"
	for _, tc := range []struct {
		name  string
		since time.Time
		first int      // the first entry returned
		reads []string // the batches read
	}{
		{"everything", time.Time{}, 0, []string{"batches/000001", "batches/000002", "batches/000003"}},
		{"inside the second batch", entry(1500).ErasedAt, 1501, []string{"batches/000002", "batches/000003"}},
		{"at the second batch's last entry", entry(1999).ErasedAt, 2000, []string{"batches/000003"}},
		{"inside the current batch", entry(2100).ErasedAt, 2101, []string{"batches/000003"}},
		{"after the last entry", entry(2499).ErasedAt, n, []string{"batches/000003"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs.reads("") // clear
			got, err := l.Since(ctx, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != n-tc.first || (len(got) > 0 && (got[0].SubjectID != int64(tc.first+1) || got[len(got)-1].SubjectID != n)) {
				t.Fatalf("Since returned %d entries; want %d, from subject %d to %d", len(got), n-tc.first, tc.first+1, n)
			}
			reads := reqs.reads(dataPath)
			want := map[string]int{"head": 1}
			for _, b := range tc.reads {
				want[b] = 1
			}
			if !maps.Equal(reads, want) {
				t.Errorf("Since read %v, want %v", reads, want)
			}
		})
	}
}

// TestLedgerBatchBytes: entries with many hashes end a batch before it
// holds BatchSize of them, and none is lost.
func TestLedgerBatchBytes(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t, "bytes")
	l.batchBytes = 4000
	hashes := make([]string, 20) // about 900 bytes an entry
	for i := range hashes {
		hashes[i] = hashIdentifier([]byte("k"), idEmail, fmt.Sprint(i))
	}
	for i := range 30 {
		e := entry(i)
		e.Hashes = hashes
		if err := l.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got := mustSince(t, l); len(got) != 30 {
		t.Fatalf("%d entries, want 30", len(got))
	}
	h, _, err := l.readHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Sealed) < 5 {
		t.Fatalf("%d batches sealed, want at least 5 of 5 entries each", len(h.Sealed))
	}
	for _, s := range h.Sealed {
		b, _, err := l.readBatch(ctx, s.N)
		if err != nil {
			t.Fatal(err)
		}
		if size := jsonSize(b); size < l.batchBytes || size > l.batchBytes+jsonSize(b[0])+len(b) {
			t.Errorf("batch %d is %d bytes, want from %d to one entry more", s.N, size, l.batchBytes)
		}
	}
}

// TestLedgerHoldsNoPersonalData erases Alice and Bob, and scans every
// version of every entry of the ledger, as Vault returns it, for their
// names, addresses, phone numbers and messages.
func TestLedgerHoldsNoPersonalData(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	l := newLedger(t, "nopii")
	if _, err := Erase(ctx, st.Pool, l, Entry{Kind: KindContact, SubjectID: w.alice, RequestID: "dsr-7"},
		Entry{Kind: KindContact, SubjectID: w.bob, RequestID: "dsr-8"}, Entry{Kind: KindMember, SubjectID: w.agent, RequestID: "dsr-9"}); err != nil {
		t.Fatal(err)
	}
	raw := rawLedger(t, l.Prefix())
	if len(raw) < 2 {
		t.Fatalf("read %d versions of ledger entries; want at least the key and a batch", len(raw))
	}
	needles := append(slices.Clone(aliceNeedles), "Bob Bystander", "bob@example.net", "+4930123456", "4930123456", "bob's question",
		"agent@team.example", "Arno Agent", "Hello")
	for path, text := range raw {
		for _, n := range needles {
			if strings.Contains(strings.ToLower(text), strings.ToLower(n)) {
				t.Errorf("%s holds %q", path, n)
			}
		}
	}
	// An entry has exactly the fields of Entry: ids, hashes, a time, a request id.
	for _, e := range mustSince(t, l) {
		b, _ := json.Marshal(e)
		var fields map[string]any
		_ = json.Unmarshal(b, &fields)
		keys := slices.Sorted(maps.Keys(fields))
		if e.Kind == KindContact && !slices.Equal(keys, []string{"erasedAt", "hashes", "id", "kind", "requestId"}) ||
			e.Kind == KindMember && !slices.Equal(keys, []string{"erasedAt", "id", "kind", "requestId"}) {
			t.Errorf("entry fields %v", keys)
		}
	}
}

// rawLedger returns every version of every entry under prefix, as the JSON
// Vault answers with, by path and version.
func rawLedger(t testing.TB, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	root := rootVault()
	l := NewLedger(root, kvMount, prefix)
	paths, err := l.list(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range paths {
		versions, err := root.KVv2(kvMount).GetVersionsAsList(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			s, err := root.Logical().ReadWithDataWithContext(ctx, kvMount+"/data/"+p, map[string][]string{"version": {fmt.Sprint(v.Version)}})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(s)
			out[fmt.Sprintf("%s@v%d", p, v.Version)] = string(b)
		}
		meta, err := root.Logical().ReadWithContext(ctx, kvMount+"/metadata/"+p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(meta)
		out[p+" metadata"] = string(b)
	}
	return out
}

// TestLedgerDestroy destroys a ledger with the operator's token (the policy
// in config/vault/operator-policy.hcl): no entry, version or metadata is
// left, and a second Destroy finds nothing.
func TestLedgerDestroy(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t, "destroy")
	l.batchSize = 10
	if _, err := l.hmacKey(ctx, true); err != nil {
		t.Fatal(err)
	}
	for i := range 35 {
		if err := l.Append(ctx, entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	before, err := l.list(ctx, l.Prefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 6 { // key, head, 4 batches
		t.Fatalf("the ledger has %d entries, want 6: %v", len(before), before)
	}
	op, _ := vaultClient(t, harness.OperatorToken)
	n, err := NewLedger(op, kvMount, l.Prefix()).Destroy(ctx)
	if err != nil || n != len(before) {
		t.Fatalf("Destroy: %d, %v; want %d", n, err, len(before))
	}
	root := rootVault()
	for _, p := range before {
		for _, kind := range []string{"data", "metadata"} {
			s, err := root.Logical().ReadWithContext(ctx, kvMount+"/"+kind+"/"+p)
			if err != nil || s != nil {
				t.Errorf("%s/%s is left after Destroy: %v %v", kind, p, s, err)
			}
		}
	}
	if s, err := root.Logical().ListWithContext(ctx, kvMount+"/metadata/"+l.Prefix()); err != nil || s != nil {
		t.Errorf("listing the destroyed ledger: %v %v", s, err)
	}
	if n, err := NewLedger(op, kvMount, l.Prefix()).Destroy(ctx); n != 0 || err != nil {
		t.Errorf("a second Destroy: %d, %v", n, err)
	}
	if e, err := NewLedger(op, kvMount, l.Prefix()).Since(ctx, time.Time{}); len(e) != 0 || err != nil {
		t.Errorf("Since on a destroyed ledger: %v, %v", e, err)
	}
}

// TestLedgerRefuses entries that could carry personal data, and a prefix
// that is not a path of its own.
func TestLedgerRefuses(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t, "refuse")
	for _, e := range []Entry{
		{Kind: KindContact, SubjectID: 1, ErasedAt: base, RequestID: "alice@example.org"},
		{Kind: KindContact, SubjectID: 1, ErasedAt: base, RequestID: "+49 151 12345678"},
		{Kind: KindContact, SubjectID: 1, ErasedAt: base, RequestID: "r", Hashes: []string{"alice@example.org"}},
		{Kind: "person", SubjectID: 1, ErasedAt: base, RequestID: "r"},
		{Kind: KindContact, SubjectID: 0, ErasedAt: base, RequestID: "r"},
		{Kind: KindContact, SubjectID: 1, RequestID: "r"},
	} {
		if err := l.Append(ctx, e); err == nil {
			t.Errorf("Append accepted %+v", e)
		}
	}
	for _, p := range []string{"", "/", "erasures/../workspaces/x"} {
		if err := NewLedger(rootVault(), kvMount, p).Append(ctx, entry(1)); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
}
