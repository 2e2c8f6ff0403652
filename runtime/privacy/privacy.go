// Package privacy erases people from a workspace's database, and keeps the
// erasure ledger that stops a restored backup from bringing them back. The
// runtime erases (Erase); the operator, restoring a backup, replays the
// ledger (Ledger.Since, Ledger.Replay) and destroys it with the workspace's
// last backup (Ledger.Destroy). It lives outside runtime/internal because
// the operator imports it; it depends on pgx and Vault's API client only.
//
// # What erasing a contact removes
//
// EraseContact deletes the contact row (with its emails, phones, tags,
// custom fields and consent flags), their channel identities, the notes
// about them, and their conversations with everything in them: messages,
// attachments, delivery events, timeline events, and queued deliveries of
// their messages. Deals that named them stay, unlinked: the deal is the
// business's record, and so do their usage events (ids and counts), without
// their contact. Counts says how many rows each table lost.
//
// Erasing a contact or a member also deletes every whole-workspace export
// the owner made (workspace_exports, with their chunks), ready or being
// built: each holds everyone, the subject included.
//
// A conversation has exactly one contact in this schema, and its messages
// name no other sender, so a conversation is wholly its contact's: the
// agents' replies and private notes in it were written to or about the
// subject, and go with it. What belongs to anyone else stays: other
// contacts and all of their conversations, the members who answered
// (accounts, and what they wrote elsewhere), companies, deals, teams,
// canned replies. If the schema ever lets a conversation have several
// participants, the rule is: the subject's participation and the messages
// they sent (with those messages' attachments and delivery events) go; the
// conversation and the others' messages stay; a conversation left with no
// participant goes. The schema test fails on any new reference to contacts,
// conversations or messages until EraseContact handles it.
//
// Free text elsewhere that names the subject (another contact's messages, a
// deal's title, a note on someone else) is not found by an id and is not
// touched; finding it is for a person, with search.
//
// The audit log holds ids only (who, what action, which object type and
// id), so it keeps its entries about the subject. The Erase functions write
// no audit entry themselves: a caller adds one in the same transaction.
//
// # Members
//
// EraseMember deletes a user account with its sessions, API tokens, team
// memberships, in-app notifications, pending email change and the
// invitations addressed to it; what the member wrote for the workspace
// stays without an author (so do the notifications their notes caused).
// Erase refuses to erase the last enabled owner (ErrLastOwner). Two things
// outside the database are not its to change: the operator's bootstrap
// entry in Vault still names the workspace's first owner, and the sign-in
// rate limit keeps unkeyed hashes of recently tried emails until its
// window passes.
//
// # The ledger
//
// Each Entry holds ids only: the kind of subject, its id, keyed hashes of a
// contact's identifiers, the time and the request id. The hashes are
// HMAC-SHA256 under a random 256-bit key kept in the ledger's own key entry,
// so the ledger can recognise an identifier it is shown but never holds one.
// Whoever can read the ledger can read the key too, and test a guessed
// email or phone number against the hashes: that is what replay needs, and
// why only the runtime (append) and the operator (replay, destroy) may read
// it. Only identifiers that no other contact held at the time are hashed,
// so that replay never erases someone who shared, say, an office phone.
//
// The ledger lives in Vault's KV v2 mount under a prefix the operator
// chooses, erasures/ws-<workspace>-<uid> (contract.LedgerPrefix), outside
// the workspace's subtree: it must outlive the workspace for as long as its
// backups do, and restoring the database must not roll it back. The
// runtime's policy may create, read and update entries under that prefix
// and nothing else of it; see Ledger for the layout.
//
// # Order of an erasure
//
// Erase deletes in a transaction, appends the ledger entry, and commits only
// once the append returned: a committed erasure always has a durable entry.
// If the append fails the transaction rolls back and nothing is erased; if
// the commit fails after the append, the ledger holds an entry for an
// erasure that did not happen, which is harmless (replaying it erases what
// was asked to be erased) and the caller retries. The other order (append,
// then erase) is as safe, but would read the identifiers to hash outside
// the transaction that locks the contact.
//
// The entry is stamped just before the append, and the append must finish
// within a minute, so the erasure commits less than a minute after its
// stamp. A restore replays the entries stamped after its backup's snapshot
// began, less ReplayMargin, which covers that minute and clock skew between
// the runtime and the operator. Replaying more than needed is harmless.
package privacy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ReplayMargin is how much earlier than its backup's snapshot a restore
// starts replaying the ledger: Since(snapshot.Add(-ReplayMargin)).
const ReplayMargin = 10 * time.Minute

// appendTimeout bounds Erase's append, so that an erasure commits within
// it of its stamp (see ReplayMargin).
const appendTimeout = time.Minute

// ErrLastOwner says Erase was asked to erase the workspace's last enabled
// owner: make someone else owner first.
var ErrLastOwner = errors.New("the member is the workspace's last owner: make another member owner before erasing them")

// Beginner starts a transaction: a *pgxpool.Pool, a *pgx.Conn, or a pgx.Tx
// (whose Begin makes a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Erase is the runtime's erasure: it erases each subject (Kind, SubjectID
// and RequestID set; ErasedAt and Hashes are filled in), appends their
// ledger entries, and commits only once the append has returned. Given a
// transaction, it works in a savepoint and the caller's commit makes the
// erasure; the entries are durable before that too. It returns the rows
// changed per table. Subjects that do not exist change nothing but are
// still recorded: they may exist in an older backup.
func Erase(ctx context.Context, db Beginner, l *Ledger, subjects ...Entry) (Counts, error) {
	entries := slices.Clone(subjects)
	hasContact := false
	for i := range entries {
		e := &entries[i]
		e.Hashes, e.ErasedAt = nil, time.Now()
		if err := e.validate(); err != nil {
			return nil, err
		}
		hasContact = hasContact || e.Kind == KindContact
	}
	var key []byte
	if hasContact {
		var err error
		if key, err = l.hmacKey(ctx, true); err != nil {
			return nil, err
		}
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("erasing: beginning a transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	total := Counts{}
	for i := range entries {
		e := &entries[i]
		var c Counts
		switch e.Kind {
		case KindContact:
			if e.Hashes, err = contactHashes(ctx, tx, key, e.SubjectID); err != nil {
				return nil, err
			}
			c, err = EraseContact(ctx, tx, e.SubjectID)
		case KindMember:
			if err = checkNotLastOwner(ctx, tx, e.SubjectID); err != nil {
				return nil, err
			}
			c, err = EraseMember(ctx, tx, e.SubjectID)
		}
		if err != nil {
			return nil, err
		}
		total.Add(c)
	}
	now := time.Now().UTC()
	for i := range entries {
		entries[i].ErasedAt = now
	}
	actx, cancel := context.WithTimeout(ctx, appendTimeout)
	err = l.Append(actx, entries...)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("erasing: nothing was erased, the ledger entry could not be written: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("erasing: committing (the ledger already records the erasure, which is harmless; retry): %w", err)
	}
	return total, nil
}

// checkNotLastOwner refuses to erase the last enabled owner. It locks the
// owners, so that two erasures cannot each leave the other as the last.
func checkNotLastOwner(ctx context.Context, tx pgx.Tx, userID int64) error {
	rows, err := tx.Query(ctx, `SELECT id, disabled_at IS NULL FROM users WHERE role = 'owner' ORDER BY id FOR UPDATE`)
	if err != nil {
		return fmt.Errorf("erasing member %d: reading the owners: %w", userID, err)
	}
	defer rows.Close()
	isOwner, others := false, 0
	for rows.Next() {
		var id int64
		var enabled bool
		if err := rows.Scan(&id, &enabled); err != nil {
			return err
		}
		if id == userID {
			isOwner = true
		} else if enabled {
			others++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("erasing member %d: reading the owners: %w", userID, err)
	}
	if isOwner && others == 0 {
		return ErrLastOwner
	}
	return nil
}

// identifier kinds, hashed with the value so that equal strings of
// different kinds never match.
const (
	idEmail    = "email"
	idPhone    = "phone"
	idIdentity = "identity"
)

func hashIdentifier(key []byte, kind, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(kind + "\x00" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// normalizePhone keeps a leading '+' and the digits.
func normalizePhone(s string) string {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		if r >= '0' && r <= '9' || r == '+' && i == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// contactHashes hashes the contact's identifiers that no other contact
// holds: its emails and phones, and its channel identities (which are
// unique by their key).
func contactHashes(ctx context.Context, tx pgx.Tx, key []byte, contactID int64) ([]string, error) {
	var emails, phones []string
	err := tx.QueryRow(ctx, `SELECT
			ARRAY(SELECT e FROM unnest(c.emails) e WHERE NOT EXISTS (SELECT 1 FROM contacts o WHERE o.id <> c.id AND o.emails @> ARRAY[e])),
			ARRAY(SELECT p FROM unnest(c.phones) p WHERE NOT EXISTS (SELECT 1 FROM contacts o WHERE o.id <> c.id AND o.phones @> ARRAY[p]))
		FROM contacts c WHERE c.id = $1 FOR UPDATE`, contactID).Scan(&emails, &phones)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("erasing contact %d: reading identifiers: %w", contactID, err)
	}
	rows, err := tx.Query(ctx, `SELECT channel, identifier FROM contact_identities WHERE contact_id = $1`, contactID)
	if err != nil {
		return nil, fmt.Errorf("erasing contact %d: reading identities: %w", contactID, err)
	}
	var identities []string
	for rows.Next() {
		var channel, identifier string
		if err := rows.Scan(&channel, &identifier); err != nil {
			rows.Close()
			return nil, err
		}
		identities = append(identities, channel+"\x00"+identifier)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("erasing contact %d: reading identities: %w", contactID, err)
	}
	return hashAll(key, emails, phones, identities), nil
}

// hashAll hashes identifiers, sorted and without repeats.
func hashAll(key []byte, emails, phones, identities []string) []string {
	var out []string
	for _, e := range emails {
		if v := normalizeEmail(e); v != "" {
			out = append(out, hashIdentifier(key, idEmail, v))
		}
	}
	for _, p := range phones {
		if v := normalizePhone(p); v != "" {
			out = append(out, hashIdentifier(key, idPhone, v))
		}
	}
	for _, id := range identities {
		out = append(out, hashIdentifier(key, idIdentity, id))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ReplayReport says what a replay did.
type ReplayReport struct {
	// Entries is how many ledger entries were replayed.
	Entries int
	// Erased is how many subjects were found by id and erased again.
	Erased int
	// ByIdentifier is how many more contacts were erased because one of
	// their identifiers hashed to one an entry recorded (a duplicate that
	// had been merged into the subject after the backup, say).
	ByIdentifier int
	// Counts is the rows changed per table.
	Counts Counts
}

// Replay re-applies entries in tx, through EraseContact and EraseMember: by
// id, and then any contact holding an identifier whose hash an entry
// recorded (with the ledger's key). Entries of subjects that are absent
// change nothing, so replaying twice is safe. The caller commits tx.
func (l *Ledger) Replay(ctx context.Context, tx pgx.Tx, entries []Entry) (ReplayReport, error) {
	r := ReplayReport{Counts: Counts{}}
	recorded := map[string]bool{}
	for _, e := range entries {
		var c Counts
		var err error
		switch e.Kind {
		case KindContact:
			c, err = EraseContact(ctx, tx, e.SubjectID)
		case KindMember:
			c, err = EraseMember(ctx, tx, e.SubjectID)
		default:
			err = fmt.Errorf("replaying the erasure ledger: entry of kind %q", e.Kind)
		}
		if err != nil {
			return r, err
		}
		r.Entries++
		if c.Total() > 0 {
			r.Erased++
		}
		r.Counts.Add(c)
		for _, h := range e.Hashes {
			recorded[h] = true
		}
	}
	if len(recorded) == 0 {
		return r, nil
	}
	key, err := l.hmacKey(ctx, false)
	if err != nil {
		return r, err
	}
	if key == nil {
		return r, fmt.Errorf("replaying the erasure ledger %s: entries hold identifier hashes but the ledger has no key", l.prefix)
	}
	ids, err := contactsMatching(ctx, tx, key, recorded)
	if err != nil {
		return r, err
	}
	for _, id := range ids {
		c, err := EraseContact(ctx, tx, id)
		if err != nil {
			return r, err
		}
		r.ByIdentifier++
		r.Counts.Add(c)
	}
	return r, nil
}

// contactsMatching returns, by id, the contacts that hold an identifier
// whose hash is recorded.
func contactsMatching(ctx context.Context, tx pgx.Tx, key []byte, recorded map[string]bool) ([]int64, error) {
	match := map[int64]bool{}
	rows, err := tx.Query(ctx, `SELECT id, emails, phones FROM contacts`)
	if err != nil {
		return nil, fmt.Errorf("replaying the erasure ledger: reading contacts: %w", err)
	}
	for rows.Next() {
		var id int64
		var emails, phones []string
		if err := rows.Scan(&id, &emails, &phones); err != nil {
			rows.Close()
			return nil, err
		}
		for _, h := range hashAll(key, emails, phones, nil) {
			if recorded[h] {
				match[id] = true
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replaying the erasure ledger: reading contacts: %w", err)
	}
	rows, err = tx.Query(ctx, `SELECT contact_id, channel, identifier FROM contact_identities`)
	if err != nil {
		return nil, fmt.Errorf("replaying the erasure ledger: reading identities: %w", err)
	}
	for rows.Next() {
		var id int64
		var channel, identifier string
		if err := rows.Scan(&id, &channel, &identifier); err != nil {
			rows.Close()
			return nil, err
		}
		if recorded[hashIdentifier(key, idIdentity, channel+"\x00"+identifier)] {
			match[id] = true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("replaying the erasure ledger: reading identities: %w", err)
	}
	ids := make([]int64, 0, len(match))
	for id := range match {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
