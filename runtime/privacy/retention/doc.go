// Package retention enforces a workspace's RetentionPolicy in its database:
// it maps each category of data to the tables and columns it covers
// (Categories, and Kept for the tables no category covers), deletes or
// anonymises the rows older than a rule allows (Enforce), and counts what
// it would do before it does it (Plan). The operator imports it; the
// runtime owns the schema, so the mapping lives beside the migrations and a
// schema test holds it to them. Like runtime/privacy, it lives outside
// runtime/internal so that the operator can import it.
//
// # The mapping
//
// Categories is the table of truth, in the order Enforce applies them:
//
//   - sessions: sessions by last_seen_at, login_failures by failed_at,
//     invites by when they were spent (accepted_at, else expires_at), and
//     api_tokens by when they died (revoked_at, else expires_at; a live
//     token never ages), and oauth_states by expires_at (ten minutes
//     after an admin started connecting a mailbox).
//   - auditLog: audit_log by at.
//   - usageEvents: usage_events by at (one row per sign-in, message sent or
//     received, export, and API call made with a token; ids and counts only).
//   - financialRecords: financial_records by issued_at (empty until billing).
//   - deliveryEvents: delivery_events by at, whatever the age of their message.
//   - conversations: conversations by their last activity,
//     greatest(last_message_at, updated_at), with their messages,
//     attachments, delivery events, queued webhooks (outbox) and timeline
//     events.
//   - contacts: contacts with no activity since the cutoff, with their
//     identities, notes and conversations. A contact's last activity is the
//     latest of its updated_at (created, edited, merged, consent changed),
//     the last activity of each of its conversations, including those that
//     retention already removed (contacts.purged_activity_at keeps it), its
//     notes' created_at, and the updated_at of the deals that name it. So a
//     contact whose old conversations were purged under a shorter rule is
//     not taken for one who never wrote. Delete unlinks their deals and
//     usage events, which stay.
//
// The contacts whose processing is restricted are never touched, nor their
// conversations and delivery events: a restriction is how a person asks
// that their data be kept, not used (GDPR article 18).
//
// Kept lists the rest with the reason: members (users), teams, companies,
// pipelines, deals, canned replies, settings, and goose's own table.
//
// # Anonymisation
//
// Anonymize keeps a row and removes what ties it to a person. Each table's
// Columns says, column by column, which are kept, cleared (set to NULL, ”
// or '{}'), replaced by a keyed hash, coarsened (timestamps truncated to the
// hour) or derived, and the schema test fails on a column that is not
// listed. In short:
//
//   - conversations: subject cleared; contact_id replaced by a keyed hash in
//     contact_key (the inbox no longer lists it); channel, status, times,
//     assignee, team, priority and tags kept. Messages: body cleared (and so
//     their search vector), the sender's external id cleared; direction,
//     channel, author (a member), delivery status and time kept.
//     Attachments: file, filename and digest cleared; type and size kept.
//     Delivery events: the provider's detail cleared. Queued webhooks are
//     deleted. Timeline events are kept: they hold statuses, member and team
//     ids and tags only.
//   - contacts: name, emails, phones, address, custom attributes and tags cleared;
//     company, consent flags and times kept; identities and notes deleted;
//     their conversations anonymised as above.
//   - usageEvents: member and contact replaced by keyed hashes (user_key,
//     contact_key); conversation, message and token ids cleared; the time
//     coarsened to the hour; kind, channel and quantity kept.
//   - auditLog: actor replaced by a keyed hash (actor_key), object_id hashed
//     in place ("anon:..."), the time coarsened; action, kinds kept.
//   - financialRecords: billing name, email, address, tax id and the
//     provider's id cleared; number, dates, amounts and currency kept, as
//     tax law wants them.
//   - deliveryEvents: the provider's detail cleared.
//   - sessions: deleted, as by Delete: none of it means anything without
//     its person.
//
// So counts per period, channel, kind, status, member and team stay true,
// and so do counts of distinct contacts and members, through the hashes.
//
// The keyed hash is HMAC-SHA256 of "<kind>:<id>" ("contact:42", "user:7",
// and "<object_type>:<object_id>" in the audit log), so one person has one
// pseudonym in every table. The key is the caller's (Options.Key, 32
// bytes): a per-workspace secret that must not be stored in the tenant
// database, or the hashes of small integer ids could be reversed by
// counting. Whoever holds the key and the data can still link a pseudonym
// to an id by trying every id; destroying or rotating the key makes the old
// pseudonyms unlinkable for good. It is not the erasure ledger's key: that
// one is read by every restore and lives as long as the backups, and a
// pseudonymisation key should be destroyable on its own. PostgreSQL
// computes the HMAC itself (sha256() over the key's inner and outer pads),
// so no row leaves the database to be hashed; Pseudonym computes the same
// in Go.
//
// Anonymisation is one category's: it does not reach into another
// category's rows. A usage event kept identified longer than the
// conversation it names still says whose conversation that was; give
// usageEvents a retention no longer than conversations if that matters.
//
// # Batches
//
// Enforce works in batches, each its own short transaction with SET LOCAL
// lock_timeout (Options.LockTimeout, default 50ms) and statement_timeout
// (default 5s), so that the inbox keeps answering while a million rows go:
//
//   - A batch takes at most BatchSize (default 1,000; it starts at 50 and
//     grows while batches take under half of BatchDuration, default 40ms,
//     and halves when one takes longer) rows of a category's
//     own table, oldest first, with FOR UPDATE SKIP LOCKED: a row someone
//     is writing is left for the next run, and rows are re-checked against
//     the rule under lock, so a conversation that just got a message stays.
//   - Messages go with their attachments, delivery events and queued
//     webhooks, at most BatchSize messages a batch; a conversation goes in
//     the batch that finds none of its messages left (so a conversation of
//     100,000 messages takes 100 batches, each holding only its own rows).
//     Contacts go the same way, after their conversations (and, for Delete,
//     after their usage events are unlinked, BatchSize at a time).
//   - Readers are never blocked: PostgreSQL's reads take no row locks. A
//     writer that wants a row a batch holds waits at most one batch; the
//     report's LongestBatch bounds that. A batch that cannot take a lock
//     within LockTimeout rolls back and is tried again a few times.
//   - Deleting children first and parents last keeps each table's count its
//     own; the foreign keys' cascades then find nothing.
//   - Each batch commits whole. Stopping a run (a cancelled context, a
//     crash, an error) loses nothing but the batch under way, and a later
//     run carries on from what is left: deletes are idempotent, and
//     Anonymize changes only rows not yet anonymised (a mark, or a column
//     not yet cleared), counting only those.
//
// Plan counts the same rows without taking any lock. With nothing else
// writing in between, Enforce's counts equal Plan's.
package retention
