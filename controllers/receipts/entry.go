// Package receipts is the operator's append-only, hash-chained log of
// destructive acts: workspace deletions and their steps, Vault KV destroys,
// database drops, retention runs, backup purges and transit key shreds.
//
// Each Entry holds the SHA-256 of the one before it, so editing, removing
// or reordering any entry breaks every link after it, and Verify names the
// first broken one. The log lives in ConfigMaps of one namespace; the
// format and how to verify it by hand are in docs/receipts.md.
//
// An entry holds ids, counts, times and outcomes only: never personal data
// and never a secret. Append refuses any string with an "@" in it, so an
// email address cannot slip in through a note, and any control character.
package receipts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kinds of destructive acts. A kind is lower-case words joined by dots.
const (
	KindWorkspaceDeleted    = "workspace.deleted"
	KindVaultDestroyed      = "vault.destroyed"
	KindDatabaseDropped     = "database.dropped"
	KindRetentionRun        = "retention.run"
	KindBackupPurged        = "backup.purged"
	KindTransitKeyDestroyed = "transitkey.destroyed"
)

// Entry is one receipt of the chain.
type Entry struct {
	// Seq numbers the entries from 1, without gaps.
	Seq int64 `json:"seq"`
	// Time is when the entry was appended (UTC).
	Time time.Time `json:"time"`
	// Kind is what was done, such as "backup.purged".
	Kind string `json:"kind"`
	// Workspace and WorkspaceUID name the tenant the act concerned, if any.
	Workspace    string `json:"workspace"`
	WorkspaceUID string `json:"workspaceUID"`
	// Object names what was destroyed, such as "Backup/acme-20240101".
	Object string `json:"object"`
	// Key is the idempotency key AppendOnce was given; "" for Append.
	Key string `json:"key"`
	// Details are the act's ids, counts, times and outcomes: a JSON object
	// in canonical form.
	Details json.RawMessage `json:"details"`
	// Prev is the Hash of entry Seq-1; "" for entry 1.
	Prev string `json:"prev"`
	// Hash is the lower-case hex SHA-256 of the entry's canonical encoding
	// without the hash member.
	Hash string `json:"hash"`
}

// Limits on what one entry may hold. A segment is closed at SegmentBytes
// before the entry that would overflow it is known, so an entry must be
// small enough to fit in what remains of the API server's 1 MiB.
const (
	MaxEntryBytes = 64 << 10
	maxNameLength = 253
)

// ErrPersonalData is returned by Append for an entry that holds a string
// that could be an email address.
var ErrPersonalData = errors.New(`receipts hold ids, counts, times and outcomes only: a string with "@" may be an email address`)

var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)+$`)

// draft is an entry before it has a place in the chain.
type draft struct {
	kind, workspace, uid, object, key string
	details                           object
}

// newDraft checks an entry's fields and turns details (a struct or map
// that marshals to a JSON object, or nil) into its canonical form.
func newDraft(key, kind, workspace, uid, obj string, details any) (draft, error) {
	d := draft{kind: kind, workspace: workspace, uid: uid, object: obj, key: key, details: object{}}
	if !kindPattern.MatchString(kind) {
		return d, fmt.Errorf("receipts: kind %q is not lower-case words joined by dots", kind)
	}
	for _, f := range []struct{ name, s string }{{"idempotency key", key}, {"workspace", workspace}, {"workspace UID", uid}, {"object", obj}} {
		if len(f.s) > maxNameLength {
			return d, fmt.Errorf("receipts: %s is longer than %d bytes", f.name, maxNameLength)
		}
		if !utf8.ValidString(f.s) {
			return d, fmt.Errorf("receipts: %s is not valid UTF-8", f.name)
		}
		if strings.Contains(f.s, "@") {
			return d, fmt.Errorf("receipts: %s: %w", f.name, ErrPersonalData)
		}
		if hasControl(f.s) {
			return d, fmt.Errorf("receipts: %s holds a control character", f.name)
		}
	}
	if details != nil {
		raw, err := json.Marshal(details)
		if err != nil {
			return d, fmt.Errorf("receipts: encoding details: %w", err)
		}
		v, err := parse(raw)
		if err != nil {
			return d, fmt.Errorf("receipts: details: %w", err)
		}
		switch o := v.(type) {
		case object:
			d.details = o
		case nil:
		default:
			return d, fmt.Errorf("receipts: details must be a JSON object, not %s", raw[:min(len(raw), 20)])
		}
		if path, ok := find(d.details, "details", func(s string) bool { return strings.Contains(s, "@") }); ok {
			return d, fmt.Errorf("receipts: %s: %w", path, ErrPersonalData)
		}
		if path, ok := find(d.details, "details", hasControl); ok {
			return d, fmt.Errorf("receipts: %s holds a control character", path)
		}
	}
	return d, nil
}

// hasControl says whether s holds U+0000-U+001F or U+007F. Entries never
// do, so every JSON tool prints their strings alike (jq escapes U+007F,
// Python does not), and the jq recipe of docs/receipts.md holds for all.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// find returns the path of the first string or key in v for which bad is
// true.
func find(v value, path string, bad func(string) bool) (string, bool) {
	switch t := v.(type) {
	case string:
		return path, bad(t)
	case []value:
		for i, e := range t {
			if p, ok := find(e, path+"["+strconv.Itoa(i)+"]", bad); ok {
				return p, true
			}
		}
	case object:
		for _, m := range t {
			if bad(m.key) {
				return path + " key", true
			}
			if p, ok := find(m.val, path+"."+m.key, bad); ok {
				return p, true
			}
		}
	}
	return "", false
}

// seal makes d entry seq of the chain, after prev: it returns the entry
// and its stored form (the canonical encoding, hash included).
func (d draft) seal(seq int64, prev string, now time.Time) (Entry, []byte, error) {
	stamp := now.UTC().Format(time.RFC3339Nano)
	obj := object{
		{"details", d.details},
		{"key", d.key},
		{"kind", d.kind},
		{"object", d.object},
		{"prev", prev},
		{"seq", json.Number(strconv.FormatInt(seq, 10))},
		{"time", stamp},
		{"workspace", d.workspace},
		{"workspaceUID", d.uid},
	}
	var buf bytes.Buffer
	canonical(&buf, obj)
	sum := sha256.Sum256(buf.Bytes())
	hash := hex.EncodeToString(sum[:])
	buf.Reset()
	canonical(&buf, obj.with("hash", hash))
	if buf.Len() > MaxEntryBytes {
		return Entry{}, nil, fmt.Errorf("receipts: the entry is %d bytes, more than %d", buf.Len(), MaxEntryBytes)
	}
	var details bytes.Buffer
	canonical(&details, d.details)
	t, _ := time.Parse(time.RFC3339Nano, stamp)
	return Entry{Seq: seq, Time: t, Kind: d.kind, Workspace: d.workspace, WorkspaceUID: d.uid, Object: d.object,
		Key: d.key, Details: details.Bytes(), Prev: prev, Hash: hash}, buf.Bytes(), nil
}

// checked is a stored entry as read back, with its hash recomputed.
type checked struct {
	Entry
	// computed is the SHA-256 of the canonical encoding without hash.
	computed string
}

// Hash returns the hash of a stored entry: the lower-case hex SHA-256 of
// its canonical encoding without the hash member. It does not compare it
// with the hash the entry carries.
func Hash(stored []byte) (string, error) {
	c, err := check(stored)
	if err != nil {
		return "", err
	}
	return c.computed, nil
}

// check parses a stored entry and recomputes its hash. An error says the
// entry is malformed: not the canonical shape of an entry at all.
func check(stored []byte) (checked, error) {
	v, err := parse(stored)
	if err != nil {
		return checked{}, err
	}
	obj, ok := v.(object)
	if !ok {
		return checked{}, errors.New("not a JSON object")
	}
	var c checked
	strs := map[string]*string{"kind": &c.Kind, "workspace": &c.Workspace, "workspaceUID": &c.WorkspaceUID,
		"object": &c.Object, "key": &c.Key, "prev": &c.Prev, "hash": &c.Hash}
	for name, dst := range strs {
		m, _ := obj.get(name)
		s, ok := m.(string)
		if !ok {
			return checked{}, fmt.Errorf("member %q is missing or not a string", name)
		}
		*dst = s
	}
	seq, _ := obj.get("seq")
	n, ok := seq.(json.Number)
	if !ok {
		return checked{}, errors.New(`member "seq" is missing or not an integer`)
	}
	if c.Seq, err = n.Int64(); err != nil || c.Seq < 1 {
		return checked{}, fmt.Errorf(`member "seq" is %s, not a positive integer`, n)
	}
	stamp, _ := obj.get("time")
	s, ok := stamp.(string)
	if !ok {
		return checked{}, errors.New(`member "time" is missing or not a string`)
	}
	if c.Time, err = time.Parse(time.RFC3339Nano, s); err != nil {
		return checked{}, fmt.Errorf(`member "time": %w`, err)
	}
	details, _ := obj.get("details")
	if _, ok := details.(object); !ok {
		return checked{}, errors.New(`member "details" is missing or not an object`)
	}
	var buf bytes.Buffer
	canonical(&buf, details)
	c.Details = bytes.Clone(buf.Bytes())
	buf.Reset()
	canonical(&buf, obj.without("hash"))
	sum := sha256.Sum256(buf.Bytes())
	c.computed = hex.EncodeToString(sum[:])
	return c, nil
}
