package privacy

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// Kind is the kind of an erased subject.
type Kind string

const (
	// KindContact is a CRM contact: someone the workspace talks to.
	KindContact Kind = "contact"
	// KindMember is a member of the workspace's team: a user account.
	KindMember Kind = "member"
)

// Entry is one erasure in the ledger. It holds ids only: never a name, an
// email address, a phone number or message text.
type Entry struct {
	Kind Kind `json:"kind"`
	// SubjectID is the erased contact's or member's id.
	SubjectID int64 `json:"id"`
	// Hashes are the keyed hashes (HMAC-SHA256 with the ledger's key,
	// unpadded base64url) of the contact's identifiers that no other contact
	// held when it was erased; Replay erases a restored contact that holds
	// one of them. Erase computes them; members have none.
	Hashes []string `json:"hashes,omitempty"`
	// ErasedAt is when the erasure was made, just before its entry was
	// appended (UTC).
	ErasedAt time.Time `json:"erasedAt"`
	// RequestID names the rights request (or other reason) behind the
	// erasure: 1 to 128 letters, digits, '.', '_', ':' or '-', so that no
	// email address or phone number fits in it.
	RequestID string `json:"requestId"`
}

// BatchSize is how many entries a batch holds before the next one starts.
const BatchSize = 1000

// maxBatchBytes ends a batch early once its entries' JSON reaches it, so
// that an entry of Vault's stays well inside its storage's limit on one
// value (Consul's is 512 KiB). A batch of 1,000 typical entries is about
// a third of it.
const maxBatchBytes = 256 << 10

// Ledger is a workspace's erasure ledger in a KV v2 mount of Vault, under a
// prefix of its own:
//
//	<prefix>/key            the HMAC key of identifier hashes, written once
//	<prefix>/head           the current batch, and each sealed batch's count
//	                        and range of erasedAt (written when a batch fills)
//	<prefix>/batches/NNNNNN entries, appended in order, up to BatchSize
//
// Every write is a check-and-set against the version read, so that appends
// from several runtime replicas never lose an entry. A batch that holds
// BatchSize entries (or about 256 KiB of them) is full and never written
// again, which is what makes a sealed batch's range in the head true for
// good.
type Ledger struct {
	c          *vaultapi.Client
	mount      string
	prefix     string
	batchSize  int
	batchBytes int

	mu  sync.Mutex
	key []byte // the HMAC key, once read (it never changes)
}

// NewLedger returns the ledger under prefix in the KV v2 mount (default
// "switchboard"). The operator uses contract.LedgerPrefix(workspace, uid)
// and passes the same prefix to the runtime (contract.EnvErasureLedger).
func NewLedger(c *vaultapi.Client, mount, prefix string) *Ledger {
	if mount == "" {
		mount = "switchboard"
	}
	return &Ledger{c: c, mount: strings.Trim(mount, "/"), prefix: strings.Trim(prefix, "/"),
		batchSize: BatchSize, batchBytes: maxBatchBytes}
}

// Prefix is the ledger's prefix in its mount.
func (l *Ledger) Prefix() string { return l.prefix }

func (l *Ledger) check() error {
	if l.prefix == "" || slices.Contains(strings.Split(l.prefix, "/"), "..") {
		return fmt.Errorf("erasure ledger: prefix %q is not a path in the KV mount", l.prefix)
	}
	return nil
}

func (l *Ledger) path(name string) string { return l.prefix + "/" + name }

func batchName(n int) string { return fmt.Sprintf("batches/%06d", n) }

type head struct {
	Format  int           `json:"format"`
	Current int           `json:"current"`
	Sealed  []sealedBatch `json:"sealed"`
}

// sealedBatch says what a full batch holds, so that Since can skip it.
type sealedBatch struct {
	N     int       `json:"n"`
	Count int       `json:"count"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func (e *Entry) validate() error {
	switch {
	case e.Kind != KindContact && e.Kind != KindMember:
		return fmt.Errorf("erasure entry: kind %q is neither %q nor %q", e.Kind, KindContact, KindMember)
	case e.SubjectID <= 0:
		return fmt.Errorf("erasure entry: subject id %d is not an id", e.SubjectID)
	case !requestIDRE.MatchString(e.RequestID):
		return errors.New("erasure entry: the request id must be 1 to 128 letters, digits, '.', '_', ':' or '-'")
	case e.ErasedAt.IsZero():
		return errors.New("erasure entry: erasedAt is not set")
	}
	for _, h := range e.Hashes {
		if b, err := base64.RawURLEncoding.DecodeString(h); err != nil || len(b) != 32 {
			return errors.New("erasure entry: a hash is not an unpadded base64url HMAC-SHA256")
		}
	}
	return nil
}

// Append adds entries to the ledger. They are durable in Vault when it
// returns nil. On an error some of them may have been written: an entry for
// an erasure that did not happen is harmless, because replaying one is.
func (l *Ledger) Append(ctx context.Context, entries ...Entry) error {
	if err := l.check(); err != nil {
		return err
	}
	pending := make([]Entry, len(entries))
	for i, e := range entries {
		if err := e.validate(); err != nil {
			return err
		}
		e.ErasedAt = e.ErasedAt.UTC()
		pending[i] = e
	}
	conflicts := 0
	for len(pending) > 0 {
		h, hv, err := l.readHead(ctx)
		if err != nil {
			return err
		}
		batch, bv, err := l.readBatch(ctx, h.Current)
		if err != nil {
			return err
		}
		var werr error
		size := jsonSize(batch)
		if len(batch) >= l.batchSize || size >= l.batchBytes {
			// Full, so never written again: record its range and move on.
			next := head{Format: 1, Current: h.Current + 1, Sealed: append(slices.Clip(h.Sealed), seal(h.Current, batch))}
			werr = l.put(ctx, l.path("head"), next, hv)
		} else {
			n := 0
			for n < len(pending) && len(batch)+n < l.batchSize && size < l.batchBytes {
				size += jsonSize(pending[n])
				n++
			}
			werr = l.put(ctx, l.path(batchName(h.Current)), map[string]any{"entries": append(batch, pending[:n]...)}, bv)
			if werr == nil {
				pending = pending[n:]
			}
		}
		switch {
		case werr == nil:
			conflicts = 0
		case errors.Is(werr, errConflict):
			// Another replica wrote first: read again, after a short random
			// wait so that a crowd of writers spreads out.
			if conflicts++; conflicts > 100 {
				return fmt.Errorf("appending to the erasure ledger %s: gave up after %d conflicting writes", l.prefix, conflicts)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("appending to the erasure ledger %s: %w", l.prefix, ctx.Err())
			case <-time.After(time.Duration(1+mrand.IntN(10*min(conflicts, 10))) * time.Millisecond):
			}
		default:
			return werr
		}
	}
	return nil
}

// jsonSize is the length of v's JSON: whether a batch is full depends on
// its entries alone, so every writer judges it alike.
func jsonSize(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

func seal(n int, batch []Entry) sealedBatch {
	s := sealedBatch{N: n, Count: len(batch)}
	for i, e := range batch {
		if i == 0 || e.ErasedAt.Before(s.First) {
			s.First = e.ErasedAt
		}
		if i == 0 || e.ErasedAt.After(s.Last) {
			s.Last = e.ErasedAt
		}
	}
	return s
}

// Since returns the entries erased after t, oldest first (entries of equal
// time in the order they were appended). It reads the head, the batches
// whose range reaches past t, and the current batch; nothing else.
//
// A restore passes the time its backup's snapshot began minus ReplayMargin:
// an erasure is stamped before its transaction commits, so one that was
// still committing when the snapshot began is stamped a little earlier.
func (l *Ledger) Since(ctx context.Context, t time.Time) ([]Entry, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	h, _, err := l.readHead(ctx)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, s := range h.Sealed {
		if !s.Last.After(t) {
			continue
		}
		batch, _, err := l.readBatch(ctx, s.N)
		if err != nil {
			return nil, err
		}
		if len(batch) != s.Count {
			return nil, fmt.Errorf("reading the erasure ledger %s: batch %d holds %d entries, its head says %d", l.prefix, s.N, len(batch), s.Count)
		}
		out = appendAfter(out, batch, t)
	}
	batch, _, err := l.readBatch(ctx, h.Current)
	if err != nil {
		return nil, err
	}
	out = appendAfter(out, batch, t)
	sort.SliceStable(out, func(i, j int) bool { return out[i].ErasedAt.Before(out[j].ErasedAt) })
	return out, nil
}

func appendAfter(out, batch []Entry, t time.Time) []Entry {
	for _, e := range batch {
		if e.ErasedAt.After(t) {
			out = append(out, e)
		}
	}
	return out
}

// Destroy destroys every entry under the ledger's prefix, with all their
// versions and metadata, and returns how many it destroyed. The operator
// calls it when the workspace and the last of its backups are gone, with
// the transit key's destruction; nothing may append to the ledger then.
func (l *Ledger) Destroy(ctx context.Context) (int, error) {
	if err := l.check(); err != nil {
		return 0, err
	}
	paths, err := l.list(ctx, l.prefix)
	if err != nil {
		return 0, err
	}
	for _, p := range paths {
		if err := l.c.KVv2(l.mount).DeleteMetadata(ctx, p); err != nil && !isNotFound(err) {
			return 0, l.vaultError("destroying "+p, err)
		}
	}
	l.mu.Lock()
	clear(l.key)
	l.key = nil
	l.mu.Unlock()
	return len(paths), nil
}

// list returns every entry under prefix, recursively, relative to the mount.
func (l *Ledger) list(ctx context.Context, prefix string) ([]string, error) {
	s, err := l.c.Logical().ListWithContext(ctx, l.mount+"/metadata/"+prefix)
	if err != nil && !isNotFound(err) {
		return nil, l.vaultError("listing "+prefix, err)
	}
	if s == nil || s.Data == nil {
		return nil, nil
	}
	keys, _ := s.Data["keys"].([]any)
	var out []string
	for _, k := range keys {
		name, _ := k.(string)
		if sub, ok := strings.CutSuffix(name, "/"); ok {
			more, err := l.list(ctx, prefix+"/"+sub)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
		} else if name != "" {
			out = append(out, prefix+"/"+name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// hmacKey returns the ledger's HMAC key. With create, a ledger without one
// gets a new random key (check-and-set, so that every replica ends up with
// the same one); without, a missing key gives nil.
func (l *Ledger) hmacKey(ctx context.Context, create bool) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.key != nil {
		return l.key, nil
	}
	if err := l.check(); err != nil {
		return nil, err
	}
	for range 3 {
		data, version, err := l.get(ctx, l.path("key"))
		if err != nil {
			return nil, err
		}
		if data != nil {
			s, _ := data["hmacSHA256"].(string)
			key, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(key) != 32 {
				return nil, fmt.Errorf("erasure ledger %s: its key entry does not hold a 256-bit key", l.prefix)
			}
			l.key = key
			return key, nil
		}
		if !create {
			return nil, nil
		}
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		err = l.put(ctx, l.path("key"), map[string]any{"hmacSHA256": base64.StdEncoding.EncodeToString(key)}, version)
		if err == nil {
			l.key = key
			return key, nil
		}
		if !errors.Is(err, errConflict) {
			return nil, err
		}
		// Another replica made the key first: read theirs.
	}
	return nil, fmt.Errorf("erasure ledger %s: could not read or create its key", l.prefix)
}

func (l *Ledger) readHead(ctx context.Context) (head, int, error) {
	h := head{Format: 1, Current: 1}
	data, version, err := l.get(ctx, l.path("head"))
	if err != nil || data == nil {
		return h, version, err
	}
	if err := decode(data, &h); err != nil || h.Current < 1 {
		return h, 0, fmt.Errorf("erasure ledger %s: its head does not parse", l.prefix)
	}
	return h, version, nil
}

func (l *Ledger) readBatch(ctx context.Context, n int) ([]Entry, int, error) {
	data, version, err := l.get(ctx, l.path(batchName(n)))
	if err != nil || data == nil {
		return nil, version, err
	}
	var b struct {
		Entries []Entry `json:"entries"`
	}
	if err := decode(data, &b); err != nil {
		return nil, 0, fmt.Errorf("erasure ledger %s: batch %d does not parse", l.prefix, n)
	}
	return b.Entries, version, nil
}

// decode turns a Vault answer's data into v.
func decode(data map[string]any, v any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// get reads the latest version of an entry: its data and version, or nil
// and 0 when it was never written. A deleted latest version is an error:
// writing over it would lose what it held.
func (l *Ledger) get(ctx context.Context, path string) (map[string]any, int, error) {
	s, err := l.c.KVv2(l.mount).Get(ctx, path)
	if errors.Is(err, vaultapi.ErrSecretNotFound) || isNotFound(err) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, l.vaultError("reading "+path, err)
	}
	if s == nil || s.VersionMetadata == nil {
		return nil, 0, nil
	}
	if s.Data == nil || s.VersionMetadata.Destroyed || !s.VersionMetadata.DeletionTime.IsZero() {
		return nil, 0, fmt.Errorf("erasure ledger: the latest version of %s/%s is deleted; undelete it (vault kv undelete -versions=%d) before anything appends",
			l.mount, path, s.VersionMetadata.Version)
	}
	return s.Data, s.VersionMetadata.Version, nil
}

// errConflict says a check-and-set write lost to another writer.
var errConflict = errors.New("check-and-set conflict")

// put writes v as a new version of path, if path's version is still
// version (0: if it does not exist yet).
func (l *Ledger) put(ctx context.Context, path string, v any, version int) error {
	var data map[string]any
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &data)
	}
	if err != nil {
		return err
	}
	_, err = l.c.KVv2(l.mount).Put(ctx, path, data, vaultapi.WithCheckAndSet(version))
	if err != nil {
		var re *vaultapi.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "check-and-set") {
			return errConflict
		}
		return l.vaultError("writing "+path+" (version "+strconv.Itoa(version)+")", err)
	}
	return nil
}

func isNotFound(err error) bool {
	var re *vaultapi.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// vaultError names the operation. Vault's answers never echo request
// bodies, and the ledger's paths and bodies hold ids only.
func (l *Ledger) vaultError(op string, err error) error {
	var re *vaultapi.ResponseError
	if errors.As(err, &re) {
		return fmt.Errorf("erasure ledger: %s in %s: vault answered %d: %s", op, l.mount, re.StatusCode, strings.Join(re.Errors, "; "))
	}
	return fmt.Errorf("erasure ledger: %s in %s: %w", op, l.mount, err)
}
