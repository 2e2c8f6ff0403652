package receipts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1 "github.com/switchboard-dev/switchboard/api/v1alpha1"
)

// HeadName is the ConfigMap that says where the chain ends.
const HeadName = "receipts-head"

// LabelReceipts marks the log's ConfigMaps: "head" or "segment".
const LabelReceipts = "tenancy.switchboard.dev/receipts"

// SegmentName is the ConfigMap holding segment n (from 1) of the chain.
func SegmentName(n int) string { return fmt.Sprintf("receipts-%06d", n) }

// entryKey is the data key of entry seq in its segment.
func entryKey(seq int64) string { return strconv.FormatInt(seq, 10) + ".json" }

// parseEntryKey returns the seq of a data key "<seq>.json".
func parseEntryKey(k string) (int64, bool) {
	s, ok := strings.CutSuffix(k, ".json")
	if !ok || s == "" || s[0] == '0' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// Head is what receipts-head records: the last entry moved into the chain
// and the segment holding it. Seq 0 is the empty chain.
type Head struct {
	Seq     int64  `json:"seq"`
	Hash    string `json:"hash"`
	Segment int    `json:"segment"`
	// SegmentEntries and SegmentBytes are the limits at which a segment
	// closes, fixed when the log is created: every appender must apply the
	// same rule, or two could write the same seq into different segments.
	SegmentEntries int `json:"segmentEntries,omitempty"`
	SegmentBytes   int `json:"segmentBytes,omitempty"`
}

// Options tune a Log; the zero value is the production setting.
type Options struct {
	// Reader reads the log's ConfigMaps. It must read from the API server,
	// not a cache (in a manager, mgr.GetAPIReader()): appends compare and
	// swap on what it returns. Nil means the client itself.
	Reader client.Reader
	// SegmentEntries closes a segment once it holds this many entries
	// (default 500).
	SegmentEntries int
	// SegmentBytes closes a segment once its data reaches this many bytes
	// (default 700 KiB, at most 900 KiB: the entry that follows may add
	// MaxEntryBytes under the API server's 1 MiB limit).
	//
	// Both apply only to a new log: they are recorded in its head, and an
	// existing log keeps the limits it was created with.
	SegmentBytes int
	// Now is the clock of entry times; nil is time.Now.
	Now func() time.Time
}

// Log is the receipt chain in the ConfigMaps of one namespace. It is safe
// for concurrent use, and several Logs (in one process or several) may
// append to the same namespace: the chain stays one.
type Log struct {
	c         client.Client
	r         client.Reader
	namespace string
	o         Options

	// mu serializes this Log's appends, which would otherwise only
	// conflict with each other at the API server.
	mu sync.Mutex
	// keys indexes the idempotency keys of entries 1..keysSeq, and
	// keysSegment is the segment holding entry keysSeq. AppendOnce extends
	// it from the chain itself before each decision, so it is never stale.
	keys        map[string]location
	keysSeq     int64
	keysSegment int
}

type location struct {
	seq     int64
	segment int
}

// New returns the log kept in namespace.
func New(c client.Client, namespace string, o Options) *Log {
	if o.Reader == nil {
		o.Reader = c
	}
	if o.SegmentEntries <= 0 {
		o.SegmentEntries = 500
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 700 << 10
	}
	o.SegmentBytes = min(o.SegmentBytes, 900<<10)
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Log{c: c, r: o.Reader, namespace: namespace, o: o}
}

// Namespace is where the log lives.
func (l *Log) Namespace() string { return l.namespace }

// Append adds an entry to the chain and returns it. details is a struct or
// map that marshals to a JSON object of ids, counts, times and outcomes:
// its numbers must be integers, and no string in the entry may hold "@"
// (ErrPersonalData).
func (l *Log) Append(ctx context.Context, kind, workspace, workspaceUID, object string, details any) (Entry, error) {
	d, err := newDraft("", kind, workspace, workspaceUID, object, details)
	if err != nil {
		return Entry{}, err
	}
	e, _, err := l.append(ctx, d)
	return e, err
}

// AppendOnce is Append for an act that may be recorded more than once (a
// controller retries): if an entry with the idempotency key key is in the
// chain, it returns that entry and false, and appends nothing. A key names
// the act, with the UID of what it destroyed: "backup.purged/<backup UID>".
func (l *Log) AppendOnce(ctx context.Context, key, kind, workspace, workspaceUID, object string, details any) (Entry, bool, error) {
	if key == "" {
		return Entry{}, false, errors.New("receipts: AppendOnce needs an idempotency key")
	}
	d, err := newDraft(key, kind, workspace, workspaceUID, object, details)
	if err != nil {
		return Entry{}, false, err
	}
	return l.append(ctx, d)
}

// Lookup returns the entry appended with idempotency key key, if any.
func (l *Log) Lookup(ctx context.Context, key string) (Entry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t, err := l.tail(ctx)
	if err != nil {
		return Entry{}, false, err
	}
	return l.lookup(ctx, t, key)
}

const maxAttempts = 100

// append places d after the head. Each attempt reads the head and the
// segment the next entry belongs in, then:
//   - if that entry is already written (its writer crashed or is about to
//     move the head), moves the head onto it and starts again;
//   - otherwise writes d there, compare-and-swapped on the segment's
//     resourceVersion, then moves the head, compare-and-swapped on the
//     head's.
//
// An entry, once written under its seq, never changes; so whoever moves the
// head next moves it onto that entry, and a crash anywhere converges.
func (l *Log) append(ctx context.Context, d draft) (Entry, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	conflicts := 0
	for attempt := 0; ; attempt++ {
		if attempt >= maxAttempts {
			return Entry{}, false, fmt.Errorf("receipts: appending to %s/%s: still conflicting after %d attempts", l.namespace, HeadName, attempt)
		}
		if conflicts > 0 {
			if err := backoff(ctx, conflicts); err != nil {
				return Entry{}, false, err
			}
		}
		t, err := l.tail(ctx)
		if err != nil {
			return Entry{}, false, err
		}
		if d.key != "" {
			if e, found, err := l.lookup(ctx, t, d.key); err != nil || found {
				return e, false, err
			}
		}
		if t.pending != nil {
			switch err := l.moveHead(ctx, t.headCM, t.pending.Entry, t.segment); {
			case retryable(err):
				conflicts++
			case err != nil:
				return Entry{}, false, fmt.Errorf("receipts: moving %s/%s onto written entry %d: %w", l.namespace, HeadName, t.pending.Seq, err)
			}
			continue
		}
		e, stored, err := d.seal(t.head.Seq+1, t.head.Hash, l.o.Now())
		if err != nil {
			return Entry{}, false, err
		}
		if err := l.writeEntry(ctx, t, e.Seq, stored); err != nil {
			if retryable(err) {
				conflicts++
				continue
			}
			return Entry{}, false, fmt.Errorf("receipts: writing entry %d into %s/%s: %w", e.Seq, l.namespace, SegmentName(t.segment), err)
		}
		if err := l.settle(ctx, t.headCM, e, t.segment); err != nil {
			return Entry{}, false, err
		}
		return e, true, nil
	}
}

// settle moves the head onto e, which is written: until the head is there
// (by this Log or another that adopted e), e is not in the chain.
func (l *Log) settle(ctx context.Context, headCM *corev1.ConfigMap, e Entry, segment int) error {
	for attempt := 0; ; attempt++ {
		err := l.moveHead(ctx, headCM, e, segment)
		if err == nil {
			return nil
		}
		if !retryable(err) || attempt >= maxAttempts {
			return fmt.Errorf("receipts: moving %s/%s to entry %d (written; the next append adopts it): %w", l.namespace, HeadName, e.Seq, err)
		}
		if err := backoff(ctx, attempt+1); err != nil {
			return err
		}
		if headCM, err = l.readHead(ctx); err != nil {
			return err
		}
		h, err := headOf(headCM)
		if err != nil {
			return err
		}
		if h.Seq >= e.Seq {
			return nil // another appender adopted e
		}
		if h.Seq != e.Seq-1 || h.Hash != e.Prev {
			return fmt.Errorf("receipts: %s/%s moved to seq %d while entry %d waited for it: run `switchboard receipts verify`",
				l.namespace, HeadName, h.Seq, e.Seq)
		}
	}
}

// tail is the end of the chain as one attempt sees it.
type tail struct {
	headCM *corev1.ConfigMap
	head   Head
	// segment is where entry head.Seq+1 belongs, cm its ConfigMap (nil if
	// not created yet), and pending that entry if it is already written.
	segment int
	cm      *corev1.ConfigMap
	pending *checked
	// read are the segments read, by number, for lookup to reuse.
	read map[int]*corev1.ConfigMap
}

// tail reads the head and the segment the next entry belongs in. The
// segment is head.Segment unless that one is full counting only entries up
// to head.Seq: a rule every appender applies to the same data, so none can
// write entry head.Seq+1 into a different segment from another.
func (l *Log) tail(ctx context.Context) (*tail, error) {
	headCM, err := l.readHead(ctx)
	if err != nil {
		return nil, err
	}
	h, err := headOf(headCM)
	if err != nil {
		return nil, err
	}
	if h.SegmentEntries <= 0 || h.SegmentBytes <= 0 {
		h.SegmentEntries, h.SegmentBytes = l.o.SegmentEntries, l.o.SegmentBytes
	}
	t := &tail{headCM: headCM, head: h, segment: h.Segment, read: map[int]*corev1.ConfigMap{}}
	if t.cm, err = l.segment(ctx, t.segment, t.read); err != nil {
		return nil, err
	}
	if t.cm != nil && full(t.cm, h) {
		t.segment++
		if t.cm, err = l.segment(ctx, t.segment, t.read); err != nil {
			return nil, err
		}
	}
	if t.cm != nil {
		if raw, ok := t.cm.Data[entryKey(h.Seq+1)]; ok {
			c, err := check([]byte(raw))
			if err != nil || c.Seq != h.Seq+1 || c.Prev != h.Hash || c.computed != c.Hash {
				return nil, fmt.Errorf("receipts: entry %d in %s/%s does not follow the head (seq %d, hash %s): run `switchboard receipts verify`",
					h.Seq+1, l.namespace, SegmentName(t.segment), h.Seq, h.Hash)
			}
			t.pending = &c
		}
	}
	return t, nil
}

// full says whether segment cm is closed to the entry after h.Seq,
// counting only the entries up to h.Seq.
func full(cm *corev1.ConfigMap, h Head) bool {
	n, size := 0, 0
	for k, v := range cm.Data {
		if seq, ok := parseEntryKey(k); ok && seq <= h.Seq {
			n++
			size += len(k) + len(v)
		}
	}
	return n >= h.SegmentEntries || size >= h.SegmentBytes
}

// lookup finds the entry with idempotency key key among entries up to the
// tail (the pending one included: it is as good as in the chain), first
// extending the index with entries appended since it last looked.
func (l *Log) lookup(ctx context.Context, t *tail, key string) (Entry, bool, error) {
	last := t.head.Seq
	if t.pending != nil {
		last++
	}
	if l.keys == nil {
		l.keys, l.keysSeq, l.keysSegment = map[string]location{}, 0, 1
	}
	for n := l.keysSegment; n <= t.segment && l.keysSeq < last; n++ {
		cm, err := l.segment(ctx, n, t.read)
		if err != nil {
			return Entry{}, false, err
		}
		if cm == nil {
			continue // a missing segment: Verify reports it
		}
		for k, v := range cm.Data {
			seq, ok := parseEntryKey(k)
			if !ok || seq <= l.keysSeq || seq > last {
				continue
			}
			var e struct {
				Key string `json:"key"`
			}
			if json.Unmarshal([]byte(v), &e) == nil && e.Key != "" {
				if _, dup := l.keys[e.Key]; !dup {
					l.keys[e.Key] = location{seq, n}
				}
			}
		}
		l.keysSegment = n
	}
	l.keysSeq = max(l.keysSeq, last)
	loc, ok := l.keys[key]
	if !ok {
		return Entry{}, false, nil
	}
	cm, err := l.segment(ctx, loc.segment, t.read)
	if err != nil {
		return Entry{}, false, err
	}
	if cm == nil {
		return Entry{}, false, fmt.Errorf("receipts: segment %s/%s, which held entry %d, is gone", l.namespace, SegmentName(loc.segment), loc.seq)
	}
	c, err := check([]byte(cm.Data[entryKey(loc.seq)]))
	if err != nil || c.Key != key {
		return Entry{}, false, fmt.Errorf("receipts: entry %d in %s/%s, which held key %q, changed: run `switchboard receipts verify`",
			loc.seq, l.namespace, SegmentName(loc.segment), key)
	}
	return c.Entry, true, nil
}

// writeEntry adds entry seq to the tail segment, creating the segment if
// needed. It fails with a conflict if anyone else wrote the segment since
// it was read.
func (l *Log) writeEntry(ctx context.Context, t *tail, seq int64, stored []byte) error {
	if t.cm == nil {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: SegmentName(t.segment), Namespace: l.namespace, Labels: labels("segment")},
			Data:       map[string]string{entryKey(seq): string(stored)},
		}
		return l.c.Create(ctx, cm)
	}
	cm := t.cm.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[entryKey(seq)] = string(stored)
	return l.c.Update(ctx, cm) // carries the resourceVersion read: a compare and swap
}

// moveHead compare-and-swaps the head (as read in headCM) onto e.
func (l *Log) moveHead(ctx context.Context, headCM *corev1.ConfigMap, e Entry, segment int) error {
	cm := headCM.DeepCopy()
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data["seq"], cm.Data["hash"], cm.Data["segment"] = strconv.FormatInt(e.Seq, 10), e.Hash, strconv.Itoa(segment)
	return l.c.Update(ctx, cm)
}

// readHead reads the head, creating it (and the namespace) for an empty
// chain.
func (l *Log) readHead(ctx context.Context) (*corev1.ConfigMap, error) {
	for range 3 {
		cm := &corev1.ConfigMap{}
		err := l.r.Get(ctx, client.ObjectKey{Namespace: l.namespace, Name: HeadName}, cm)
		if err == nil {
			return cm, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("receipts: reading %s/%s: %w", l.namespace, HeadName, err)
		}
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: HeadName, Namespace: l.namespace, Labels: labels("head")},
			Data: map[string]string{"seq": "0", "hash": "", "segment": "1",
				"segmentEntries": strconv.Itoa(l.o.SegmentEntries), "segmentBytes": strconv.Itoa(l.o.SegmentBytes)},
		}
		err = l.c.Create(ctx, cm)
		if apierrors.IsNotFound(err) { // the namespace is missing
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: l.namespace}}
			if err := l.c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("receipts: creating namespace %s: %w", l.namespace, err)
			}
			err = l.c.Create(ctx, cm)
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("receipts: creating %s/%s: %w", l.namespace, HeadName, err)
		}
	}
	return nil, fmt.Errorf("receipts: %s/%s keeps disappearing", l.namespace, HeadName)
}

// headOf parses the head ConfigMap.
func headOf(cm *corev1.ConfigMap) (Head, error) {
	seq, err1 := strconv.ParseInt(cm.Data["seq"], 10, 64)
	seg, err2 := strconv.Atoi(cm.Data["segment"])
	h := Head{Seq: seq, Hash: cm.Data["hash"], Segment: seg}
	// Absent limits (a head written by hand) fall back to the Log's options.
	h.SegmentEntries, _ = strconv.Atoi(cm.Data["segmentEntries"])
	h.SegmentBytes, _ = strconv.Atoi(cm.Data["segmentBytes"])
	h.SegmentBytes = min(h.SegmentBytes, 900<<10)
	if err := errors.Join(err1, err2); err != nil || seq < 0 || seg < 1 || (seq == 0) != (h.Hash == "") {
		return h, fmt.Errorf("receipts: %s/%s is malformed (seq %q, hash %q, segment %q): run `switchboard receipts verify`",
			cm.Namespace, cm.Name, cm.Data["seq"], cm.Data["hash"], cm.Data["segment"])
	}
	return h, nil
}

// segment reads segment n, or nil if it does not exist, once per attempt.
func (l *Log) segment(ctx context.Context, n int, read map[int]*corev1.ConfigMap) (*corev1.ConfigMap, error) {
	if cm, ok := read[n]; ok {
		return cm, nil
	}
	cm := &corev1.ConfigMap{}
	err := l.r.Get(ctx, client.ObjectKey{Namespace: l.namespace, Name: SegmentName(n)}, cm)
	if apierrors.IsNotFound(err) {
		cm = nil
	} else if err != nil {
		return nil, fmt.Errorf("receipts: reading %s/%s: %w", l.namespace, SegmentName(n), err)
	}
	if read != nil {
		read[n] = cm
	}
	return cm, nil
}

func labels(role string) map[string]string {
	return map[string]string{tenancyv1.LabelManagedBy: tenancyv1.ManagedByValue, LabelReceipts: role}
}

// retryable says another writer got there first.
func retryable(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// backoff waits a jittered, growing moment, so competing writers spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(min(1<<min(attempt, 7), 100)) * time.Millisecond
	d = d/2 + rand.N(d/2+1)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
