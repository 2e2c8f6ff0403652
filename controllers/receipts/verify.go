package receipts

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reason says how a link of the chain is broken.
type Reason string

const (
	// HashMismatch: the entry's canonical encoding does not hash to the
	// hash it carries. The entry was altered.
	HashMismatch Reason = "hash mismatch"
	// PrevMismatch: the entry's prev is not the hash of the entry before
	// it. One of the two was altered and rehashed, or replaced.
	PrevMismatch Reason = "prev mismatch"
	// MissingEntry: there is no entry with this seq, though the chain
	// goes on after it or the head says it reaches it.
	MissingEntry Reason = "missing entry"
	// HeadMismatch: receipts-head does not point at the end of the chain.
	HeadMismatch Reason = "head mismatch"
	// Malformed: the entry is not an entry in canonical form.
	Malformed Reason = "malformed entry"
)

// Break is the first broken link of the chain.
type Break struct {
	Seq    int64  `json:"seq"`
	Reason Reason `json:"reason"`
	Detail string `json:"detail"`
}

func (b *Break) String() string {
	return fmt.Sprintf("entry %d: %s: %s", b.Seq, b.Reason, b.Detail)
}

// Report is the outcome of a verification.
type Report struct {
	// Entries counts the entries, from seq 1, that verified as one chain
	// (up to the first broken link).
	Entries int64 `json:"entries"`
	// LastHash is the hash of entry Entries. Recording it lets a later
	// verification prove that the chain was only extended since: entry
	// Entries must still have this hash.
	LastHash string `json:"lastHash,omitempty"`
	// Head is what receipts-head records; nil for an export, or when there
	// is no head.
	Head *Head `json:"head,omitempty"`
	// Pending says the last entry is written but the head has not moved
	// onto it yet: an append in flight, or one whose writer stopped. The
	// next append moves the head onto it; it is verified and counted.
	Pending bool `json:"pending,omitempty"`
	// Broken is the first broken link; nil if the chain verified.
	Broken *Break `json:"broken,omitempty"`
}

// OK says the chain verified.
func (r Report) OK() bool { return r.Broken == nil }

// chainCheck verifies entries in the order given.
type chainCheck struct {
	rep      Report
	prevHash string // the hash of entry rep.Entries-1, to check a head one behind
	// headMalformed says why the head could not be parsed, if it could not.
	headMalformed string
}

// add checks the next entry, stored under keySeq (0 when it has no
// storage key, as in an export); it returns false once the chain broke.
func (cc *chainCheck) add(where string, keySeq int64, raw []byte) bool {
	next := cc.rep.Entries + 1
	fail := func(seq int64, r Reason, format string, args ...any) bool {
		cc.rep.Broken = &Break{Seq: seq, Reason: r, Detail: fmt.Sprintf(format, args...)}
		return false
	}
	c, err := check(raw)
	if err != nil {
		seq := keySeq
		if seq == 0 {
			seq = next
		}
		if seq > next {
			return fail(next, MissingEntry, "the entry after %d in %s is stored as %d", next-1, where, seq)
		}
		return fail(seq, Malformed, "%s: %v", where, err)
	}
	if keySeq != 0 && c.Seq != keySeq {
		return fail(keySeq, Malformed, "%s stores it under %s, but it says seq %d", where, entryKey(keySeq), c.Seq)
	}
	switch {
	case c.Seq > next:
		return fail(next, MissingEntry, "the entry after %d is %d (in %s)", next-1, c.Seq, where)
	case c.Seq < next:
		return fail(c.Seq, Malformed, "entry %d appears again after entry %d (in %s)", c.Seq, next-1, where)
	}
	if c.computed != c.Hash {
		return fail(c.Seq, HashMismatch, "its canonical encoding hashes to %s, but it says %s: the entry was altered (in %s)", c.computed, c.Hash, where)
	}
	if c.Prev != cc.rep.LastHash {
		if c.Seq == 1 {
			return fail(1, PrevMismatch, "the first entry says prev %q; it must be empty (in %s)", c.Prev, where)
		}
		return fail(c.Seq, PrevMismatch, "it says prev %s, but entry %d hashes to %s: entry %d or %d was altered or replaced (in %s)",
			c.Prev, c.Seq-1, cc.rep.LastHash, c.Seq-1, c.Seq, where)
	}
	cc.prevHash, cc.rep.LastHash, cc.rep.Entries = cc.rep.LastHash, c.Hash, c.Seq
	return true
}

// head compares the head with the end of a chain that verified.
func (cc *chainCheck) head(h *Head, lastSegment int) {
	last := cc.rep.Entries
	fail := func(seq int64, r Reason, format string, args ...any) {
		cc.rep.Broken = &Break{Seq: seq, Reason: r, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case cc.headMalformed != "":
		fail(last, HeadMismatch, "%s", cc.headMalformed)
	case h == nil && last > 0:
		fail(last, HeadMismatch, "%s is missing, but the chain holds %d entries", HeadName, last)
	case h == nil:
	case h.Seq > last:
		fail(last+1, MissingEntry, "%s says the chain reaches entry %d, but it ends at %d", HeadName, h.Seq, last)
	case h.Seq == last && h.Hash != cc.rep.LastHash:
		fail(last, HeadMismatch, "%s says hash %s, but entry %d hashes to %s", HeadName, h.Hash, last, cc.rep.LastHash)
	case h.Seq == last && last > 0 && h.Segment != lastSegment:
		fail(last, HeadMismatch, "%s says segment %s, but entry %d is in %s", HeadName, SegmentName(h.Segment), last, SegmentName(lastSegment))
	case h.Seq == last-1 && h.Hash != cc.prevHash:
		fail(h.Seq, HeadMismatch, "%s says hash %s, but entry %d hashes to %s", HeadName, h.Hash, h.Seq, cc.prevHash)
	case h.Seq == last-1:
		cc.rep.Pending = true
	case h.Seq < last-1:
		fail(h.Seq, HeadMismatch, "%s says the chain ends at entry %d, but it goes on to %d", HeadName, h.Seq, last)
	}
}

// Verify walks the chain from entry 1, recomputes every hash and prev link
// and compares the end with the head. A broken chain is not an error: the
// report names its first broken link. The error is for failures to read.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	var cc chainCheck
	h, malformed, err := l.readHeadOnly(ctx)
	if err != nil {
		return Report{}, err
	}
	cc.headMalformed = malformed
	lastSegment, err := l.walk(ctx, func(seg int, seq int64, raw string) bool {
		return cc.add(SegmentName(seg), seq, []byte(raw))
	})
	if err != nil {
		return Report{}, err
	}
	cc.rep.Head = h
	if cc.rep.Broken == nil {
		cc.head(h, lastSegment)
	}
	return cc.rep, nil
}

// Export writes the whole chain to w as a JSON array, one entry per line,
// each exactly as stored, so that it verifies with VerifyExport or by hand
// (docs/receipts.md). It holds one segment in memory at a time, and
// exports what is stored even where the chain is broken.
func (l *Log) Export(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	first := true
	var werr error
	if _, err := l.walk(ctx, func(_ int, _ int64, raw string) bool {
		if !first {
			bw.WriteString(",")
		}
		first = false
		bw.WriteString("\n")
		_, werr = bw.WriteString(raw)
		return werr == nil
	}); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	bw.WriteString("\n]\n")
	return bw.Flush()
}

// VerifyExport verifies a chain exported by Export. Without the head it
// cannot tell a chain cut short at its end: compare the report's Entries
// and LastHash with those of an earlier verification.
func VerifyExport(r io.Reader) (Report, error) {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return Report{}, errors.New("receipts: an export is a JSON array of entries")
	}
	var cc chainCheck
	for i := 1; dec.More(); i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Report{}, fmt.Errorf("receipts: reading element %d of the export: %w", i, err)
		}
		if cc.rep.Broken == nil {
			cc.add("element "+strconv.Itoa(i)+" of the export", 0, raw)
		}
	}
	if _, err := dec.Token(); err != nil {
		return Report{}, fmt.Errorf("receipts: reading the end of the export: %w", err)
	}
	return cc.rep, nil
}

// walk calls fn with every stored entry, in order of segment and then
// seq, until fn returns false. It returns the segment of the last entry.
func (l *Log) walk(ctx context.Context, fn func(segment int, seq int64, raw string) bool) (int, error) {
	segments, err := l.segments(ctx)
	if err != nil {
		return 0, err
	}
	last := 0
	for _, n := range segments {
		cm, err := l.segment(ctx, n, nil)
		if err != nil {
			return 0, err
		}
		if cm == nil {
			continue // deleted since the list: its entries are missing
		}
		type stored struct {
			seq int64
			raw string
		}
		var entries []stored
		for k, v := range cm.Data {
			if seq, ok := parseEntryKey(k); ok {
				entries = append(entries, stored{seq, v})
			}
		}
		slices.SortFunc(entries, func(a, b stored) int { return cmp.Compare(a.seq, b.seq) })
		for _, e := range entries {
			last = n
			if !fn(n, e.seq, e.raw) {
				return last, nil
			}
		}
	}
	return last, nil
}

// segments lists the numbers of the segments that exist, in order, from
// the names alone (the data is read one segment at a time).
func (l *Log) segments(ctx context.Context) ([]int, error) {
	var out []int
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("ConfigMapList"))
	for {
		if err := l.r.List(ctx, list, client.InNamespace(l.namespace), client.Limit(500), client.Continue(list.Continue)); err != nil {
			return nil, fmt.Errorf("receipts: listing the ConfigMaps of %s: %w", l.namespace, err)
		}
		for _, o := range list.Items {
			digits, ok := strings.CutPrefix(o.Name, "receipts-")
			if n, err := strconv.Atoi(digits); ok && err == nil && n > 0 && SegmentName(n) == o.Name {
				out = append(out, n)
			}
		}
		if list.Continue == "" {
			break
		}
	}
	slices.Sort(out)
	return out, nil
}

// readHeadOnly reads the head without creating it; nil if there is none.
// The string says why the head is malformed, if it is.
func (l *Log) readHeadOnly(ctx context.Context) (*Head, string, error) {
	cm := &corev1.ConfigMap{}
	err := l.r.Get(ctx, client.ObjectKey{Namespace: l.namespace, Name: HeadName}, cm)
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("receipts: reading %s/%s: %w", l.namespace, HeadName, err)
	}
	h, err := headOf(cm)
	if err != nil {
		// A head that is not even well formed is a broken link, not a
		// failure to read.
		return &h, err.Error(), nil
	}
	return &h, "", nil
}
