package privacy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Counts is how many rows an erasure changed, per table: rows deleted under
// the table's name ("messages"), and rows kept with a column cleared under
// "table.column" ("deals.contact_id"). Tables it did not touch are absent.
type Counts map[string]int64

// Total is the number of rows changed.
func (c Counts) Total() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Add adds o's counts to c.
func (c Counts) Add(o Counts) {
	for k, v := range o {
		c[k] += v
	}
}

// String lists the counts by table, for logs: "contacts=1 messages=3".
func (c Counts) String() string {
	keys := slices.Sorted(maps.Keys(c))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, c[k])
	}
	return strings.Join(parts, " ")
}

// step is one statement of an erasure, with $1 the subject's id. The schema
// test holds the steps against the database's foreign keys: every reference
// to the subject's table, and to the rows deleted with it, must be a step's
// (table, column, parent).
type step struct {
	table  string
	column string // the column that refers to parent; "" for a step that matches otherwise
	parent string
	// unlink keeps the row and clears column; otherwise the row is deleted.
	unlink bool
	sql    string
}

func (s step) key() string {
	if s.unlink {
		return s.table + "." + s.column
	}
	return s.table
}

// The subject's messages: those of the conversations whose contact they are.
const contactMessages = `SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.contact_id = $1`

// contactSteps erase a contact, children before parents, so that each
// table's count is its own (the foreign keys' cascades then find nothing).
var contactSteps = []step{
	// A link Telnyx fetched an MMS's file from names the file.
	{table: "media_links", column: "attachment_id", parent: "attachments",
		sql: `DELETE FROM media_links WHERE attachment_id IN (SELECT id FROM attachments WHERE message_id IN (` + contactMessages + `))`},
	{table: "attachments", column: "message_id", parent: "messages",
		sql: `DELETE FROM attachments WHERE message_id IN (` + contactMessages + `)`},
	{table: "delivery_events", column: "message_id", parent: "messages",
		sql: `DELETE FROM delivery_events WHERE message_id IN (` + contactMessages + `)`},
	// A queued reply carries the body and the contact's identifier. Every
	// delivery names its message; the conversation is matched as well, in
	// case one ever does not.
	{table: "outbox", column: "message_id", parent: "messages",
		sql: `DELETE FROM outbox WHERE message_id IN (` + contactMessages + `)
			OR payload->>'conversationId' IN (SELECT id::text FROM conversations WHERE contact_id = $1)`},
	// An email's threading headers name its sender and their mail server.
	{table: "email_messages", column: "message_id", parent: "messages",
		sql: `DELETE FROM email_messages WHERE message_id IN (` + contactMessages + `)`},
	// A notification points a member at a note in the conversation.
	{table: "notifications", column: "message_id", parent: "messages",
		sql: `DELETE FROM notifications WHERE message_id IN (` + contactMessages + `)`},
	{table: "notifications", column: "conversation_id", parent: "conversations",
		sql: `DELETE FROM notifications WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = $1)`},
	{table: "messages", column: "conversation_id", parent: "conversations",
		sql: `DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = $1)`},
	{table: "conversation_events", column: "conversation_id", parent: "conversations",
		sql: `DELETE FROM conversation_events WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = $1)`},
	{table: "conversation_reads", column: "conversation_id", parent: "conversations",
		sql: `DELETE FROM conversation_reads WHERE conversation_id IN (SELECT id FROM conversations WHERE contact_id = $1)`},
	{table: "conversations", column: "contact_id", parent: "contacts",
		sql: `DELETE FROM conversations WHERE contact_id = $1`},
	{table: "notes", column: "contact_id", parent: "contacts",
		sql: `DELETE FROM notes WHERE contact_id = $1`},
	{table: "contact_identities", column: "contact_id", parent: "contacts",
		sql: `DELETE FROM contact_identities WHERE contact_id = $1`},
	// Their consent history (opt-outs, restrictions) is theirs. The rights
	// requests about them stay: they name the subject by id only, with no
	// foreign key, as evidence of what was done.
	{table: "consent_events", column: "contact_id", parent: "contacts",
		sql: `DELETE FROM consent_events WHERE contact_id = $1`},
	// The deal is the business's record and stays, without its person.
	{table: "deals", column: "contact_id", parent: "contacts", unlink: true,
		sql: `UPDATE deals SET contact_id = NULL, updated_at = now() WHERE contact_id = $1`},
	// Usage stays, counted without its contact, nor their conversations'
	// ids (which name rows that are gone now).
	{table: "usage_events", column: "contact_id", parent: "contacts", unlink: true,
		sql: `UPDATE usage_events SET contact_id = NULL, conversation_id = NULL, message_id = NULL WHERE contact_id = $1`},
	// Every whole-workspace export holds the contact: all of them go.
	{table: "workspace_export_chunks",
		sql: `DELETE FROM workspace_export_chunks WHERE $1::bigint IS NOT NULL`},
	{table: "workspace_exports",
		sql: `DELETE FROM workspace_exports WHERE $1::bigint IS NOT NULL`},
	{table: "contacts",
		sql: `DELETE FROM contacts WHERE id = $1`},
}

// memberSteps erase a member. What they wrote for the workspace (replies,
// notes, deals, canned replies) stays without its author.
var memberSteps = []step{
	// The invitations addressed to them hold their email address.
	{table: "invites",
		sql: `DELETE FROM invites WHERE email = (SELECT email FROM users WHERE id = $1)`},
	{table: "sessions", column: "user_id", parent: "users",
		sql: `DELETE FROM sessions WHERE user_id = $1`},
	// A pending change of their email holds the new address.
	{table: "email_changes", column: "user_id", parent: "users",
		sql: `DELETE FROM email_changes WHERE user_id = $1`},
	{table: "oauth_states", column: "user_id", parent: "users",
		sql: `DELETE FROM oauth_states WHERE user_id = $1`},
	{table: "api_tokens", column: "user_id", parent: "users",
		sql: `DELETE FROM api_tokens WHERE user_id = $1`},
	{table: "team_members", column: "user_id", parent: "users",
		sql: `DELETE FROM team_members WHERE user_id = $1`},
	{table: "conversation_reads", column: "user_id", parent: "users",
		sql: `DELETE FROM conversation_reads WHERE user_id = $1`},
	// Their notifications are theirs; those they caused (a note of theirs
	// mentioning someone) stay with the member told, without an author.
	{table: "notifications", column: "user_id", parent: "users",
		sql: `DELETE FROM notifications WHERE user_id = $1`},
	{table: "notifications", column: "actor_id", parent: "users", unlink: true,
		sql: `UPDATE notifications SET actor_id = NULL WHERE actor_id = $1`},
	{table: "invites", column: "invited_by", parent: "users", unlink: true,
		sql: `UPDATE invites SET invited_by = NULL WHERE invited_by = $1`},
	{table: "notes", column: "author_id", parent: "users", unlink: true,
		sql: `UPDATE notes SET author_id = NULL WHERE author_id = $1`},
	{table: "deals", column: "owner_id", parent: "users", unlink: true,
		sql: `UPDATE deals SET owner_id = NULL, updated_at = now() WHERE owner_id = $1`},
	{table: "conversations", column: "assignee_id", parent: "users", unlink: true,
		sql: `UPDATE conversations SET assignee_id = NULL, updated_at = now() WHERE assignee_id = $1`},
	{table: "messages", column: "author_id", parent: "users", unlink: true,
		sql: `UPDATE messages SET author_id = NULL WHERE author_id = $1`},
	{table: "conversation_events", column: "actor_id", parent: "users", unlink: true,
		sql: `UPDATE conversation_events SET actor_id = NULL WHERE actor_id = $1`},
	{table: "canned_replies", column: "created_by", parent: "users", unlink: true,
		sql: `UPDATE canned_replies SET created_by = NULL WHERE created_by = $1`},
	{table: "consent_events", column: "actor_id", parent: "users", unlink: true,
		sql: `UPDATE consent_events SET actor_id = NULL WHERE actor_id = $1`},
	// Rights requests they filed, were given or closed stay as evidence.
	{table: "privacy_requests", column: "assignee_id", parent: "users", unlink: true,
		sql: `UPDATE privacy_requests SET assignee_id = NULL, updated_at = now() WHERE assignee_id = $1`},
	{table: "privacy_requests", column: "created_by", parent: "users", unlink: true,
		sql: `UPDATE privacy_requests SET created_by = NULL WHERE created_by = $1`},
	{table: "privacy_requests", column: "completed_by", parent: "users", unlink: true,
		sql: `UPDATE privacy_requests SET completed_by = NULL WHERE completed_by = $1`},
	{table: "usage_events", column: "user_id", parent: "users", unlink: true,
		sql: `UPDATE usage_events SET user_id = NULL, api_token_id = NULL WHERE user_id = $1`},
	// Every whole-workspace export holds the member, whoever asked for it:
	// all of them go.
	{table: "workspace_export_chunks", column: "export_id", parent: "workspace_exports",
		sql: `DELETE FROM workspace_export_chunks WHERE $1::bigint IS NOT NULL`},
	{table: "workspace_exports", column: "requested_by", parent: "users",
		sql: `DELETE FROM workspace_exports WHERE $1::bigint IS NOT NULL`},
	{table: "users",
		sql: `DELETE FROM users WHERE id = $1`},
}

// EraseContact removes a contact and everything that is theirs, in tx (see
// the package documentation for what that is). A contact that does not
// exist is a no-op with empty counts, so erasing twice, or replaying an
// erasure, is safe. The contact and their conversations are locked first,
// so that no message or identity is added to them meanwhile.
func EraseContact(ctx context.Context, tx pgx.Tx, contactID int64) (Counts, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM contacts WHERE id = $1 FOR UPDATE`, contactID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Counts{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("erasing contact %d: locking it: %w", contactID, err)
	}
	if _, err := tx.Exec(ctx, `SELECT id FROM conversations WHERE contact_id = $1 ORDER BY id FOR UPDATE`, contactID); err != nil {
		return nil, fmt.Errorf("erasing contact %d: locking their conversations: %w", contactID, err)
	}
	return run(ctx, tx, "contact", contactID, contactSteps)
}

// EraseMember removes a member's account: the user row, their sessions, API
// tokens, team memberships and the invitations addressed to them. What they
// wrote for the workspace stays, without its author: replies and notes,
// deals they owned, conversations assigned to them, canned replies. The
// audit log keeps their id, which is all it holds. A member who does not
// exist is a no-op with empty counts.
//
// It does not check that an owner is left; Erase does, before it calls it.
func EraseMember(ctx context.Context, tx pgx.Tx, userID int64) (Counts, error) {
	var id int64
	err := tx.QueryRow(ctx, `SELECT id FROM users WHERE id = $1 FOR UPDATE`, userID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Counts{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("erasing member %d: locking them: %w", userID, err)
	}
	return run(ctx, tx, "member", userID, memberSteps)
}

func run(ctx context.Context, tx pgx.Tx, kind string, id int64, steps []step) (Counts, error) {
	counts := Counts{}
	for _, s := range steps {
		tag, err := tx.Exec(ctx, s.sql, id)
		if err != nil {
			// PostgreSQL's message names tables and constraints, never values.
			return nil, fmt.Errorf("erasing %s %d: %s: %w", kind, id, s.key(), err)
		}
		if n := tag.RowsAffected(); n > 0 {
			counts[s.key()] += n
		}
	}
	return counts, nil
}
