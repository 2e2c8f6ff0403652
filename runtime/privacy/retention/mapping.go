package retention

// Category is a category of tenant data, as a RetentionPolicy names it
// (api/v1alpha1.DataCategory has the same values).
type Category string

// The categories, as RetentionPolicy's enum spells them.
const (
	Conversations    Category = "conversations"
	DeliveryEvents   Category = "deliveryEvents"
	UsageEvents      Category = "usageEvents"
	AuditLog         Category = "auditLog"
	FinancialRecords Category = "financialRecords"
	Contacts         Category = "contacts"
	Sessions         Category = "sessions"
)

// Action is what happens to a row older than its category's retainFor.
type Action string

// The actions, as RetentionPolicy spells them.
const (
	Delete    Action = "Delete"
	Anonymize Action = "Anonymize"
)

// Treatment is what Anonymize does to one column.
type Treatment string

// The treatments.
const (
	// Keep leaves the column as it is: it identifies no one once the
	// others are treated, and aggregates need it.
	Keep Treatment = "keep"
	// Clear sets the column to its empty value: NULL, or '' or '{}' where it
	// is NOT NULL.
	Clear Treatment = "clear"
	// Hash replaces the column by its keyed hash (HMAC-SHA256 under the
	// workspace's pseudonymisation key): into Column.Into, clearing the
	// column, or in place for a text column ("anon:" and 32 hex digits).
	Hash Treatment = "hash"
	// Coarsen truncates a timestamp to the hour, so that a kept row cannot
	// be joined back by its exact time to a row that still names someone.
	Coarsen Treatment = "coarsen"
	// Derived is computed by PostgreSQL from other columns (a generated
	// column, or the target of a Hash).
	Derived Treatment = "derived"
	// Mark is set to the time of the anonymisation: the row is done.
	Mark Treatment = "mark"
)

// Column is how Anonymize treats one column.
type Column struct {
	Name      string
	Treatment Treatment
	// Empty is the SQL value Clear sets: NULL, '', '{}'.
	Empty string
	// Into is the bytea column that receives a Hash; "" hashes in place.
	Into string
	// Input is the SQL text that is hashed, as "<kind>:<id>" (the same
	// person hashes alike in every table): 'contact:' || contact_id.
	Input string
	// Why says why the column is kept, or what it held.
	Why string
}

// Table is one table a category covers.
type Table struct {
	Name string
	// AgedBy is, for the category's own rows, the SQL expression of the
	// time that ages a row; empty for rows that go with a parent.
	AgedBy string
	// Via is, for rows that go with a parent, the reference that ties them
	// to it ("messages.conversation_id").
	Via string
	// Columns says how Anonymize treats each column of the table. Nil when
	// Anonymize deletes the rows, as Delete does (AnonymizeDeletes says why).
	Columns []Column
	// AnonymizeDeletes says why Anonymize deletes these rows rather than
	// keeping them without personal data.
	AnonymizeDeletes string
}

// Unlink is a reference from a table outside the category that a Delete
// clears rather than deleting the row that holds it.
type Unlink struct {
	Table, Column, Why string
}

// Spec is what a category covers.
type Spec struct {
	Category Category
	// Doc is the category's definition, for people.
	Doc     string
	Tables  []Table
	Unlinks []Unlink
}

// Table returns the category's table called name.
func (s Spec) Table(name string) (Table, bool) {
	for _, t := range s.Tables {
		if t.Name == name {
			return t, true
		}
	}
	return Table{}, false
}

func keep(name, why string) Column { return Column{Name: name, Treatment: Keep, Why: why} }
func cleared(name, empty, why string) Column {
	return Column{Name: name, Treatment: Clear, Empty: empty, Why: why}
}
func derived(name, why string) Column { return Column{Name: name, Treatment: Derived, Why: why} }
func mark() Column {
	return Column{Name: "anonymized_at", Treatment: Mark, Why: "when the row was anonymised"}
}
func coarsen(name string) Column {
	return Column{Name: name, Treatment: Coarsen, Why: "truncated to the hour: per-hour and per-day counts stay true"}
}
func hashInto(name, into, kind, why string) Column {
	return Column{Name: name, Treatment: Hash, Into: into, Input: "'" + kind + ":' || " + name, Why: why}
}

// The tables of the conversations category below its conversations, shared
// with contacts (whose conversations go with them).
var (
	messagesTable = Table{Name: "messages", Via: "messages.conversation_id", Columns: []Column{
		keep("id", "the row"),
		keep("conversation_id", "its conversation, itself anonymised"),
		keep("channel", "message counts per channel"),
		keep("direction", "incoming, outgoing and note counts"),
		keep("author_id", "the member who wrote it: members are kept for the life of the workspace"),
		cleared("body", "''", "the text"),
		cleared("external_id", "NULL", "the sender's id for the message, which the channel's provider can match to a person"),
		keep("delivery_status", "delivery rates"),
		keep("created_at", "volumes and response times"),
		derived("search", "the full-text index of body, empty once body is"),
	}}
	attachmentsTable = Table{Name: "attachments", Via: "attachments.message_id", Columns: []Column{
		keep("id", "the row"),
		keep("message_id", "its message"),
		cleared("filename", "''", "names like passport-alice.pdf"),
		keep("content_type", "counts per kind of file"),
		keep("size", "storage per period"),
		cleared("sha256", "''", "a digest that proves who sent a known file"),
		cleared("data", "NULL", "the file"),
	}}
	deliveryColumns = []Column{
		keep("id", "the row"),
		keep("message_id", "its message (governed by conversations)"),
		keep("status", "delivery rates"),
		cleared("detail", "''", "the provider's words, which may quote the recipient's number or address"),
		keep("at", "delivery times"),
	}
	deliveryEventsTable = Table{Name: "delivery_events", Via: "delivery_events.message_id", Columns: deliveryColumns}
	outboxTable         = Table{Name: "outbox", Via: "outbox.message_id",
		AnonymizeDeletes: "a queued or delivered webhook is the message's body and the contact's identifier, and no record of anything"}
	emailMessagesTable = Table{Name: "email_messages", Via: "email_messages.message_id",
		AnonymizeDeletes: "an email's Message-ID, references, subject and reply address name its sender and their mail server"}
	notificationsTable = Table{Name: "notifications", Via: "notifications.conversation_id",
		AnonymizeDeletes: "a notification points a member at a note in the conversation: nothing once the note's words are gone"}
	conversationEventsTable = Table{Name: "conversation_events", Via: "conversation_events.conversation_id", Columns: []Column{
		keep("id", "the row"),
		keep("conversation_id", "its conversation"),
		keep("actor_id", "the member who acted"),
		keep("kind", "status, assignment, team, priority and tag changes"),
		keep("data", "statuses, member and team ids, priorities and tags: never the contact's words"),
		keep("at", "handling times"),
	}}
	conversationReadsTable = Table{Name: "conversation_reads", Via: "conversation_reads.conversation_id", Columns: []Column{
		keep("user_id", "the member who read it"),
		keep("conversation_id", "its conversation"),
		keep("message_id", "the newest message they had seen: an id"),
		keep("read_at", "a time"),
	}}
	conversationsTable = Table{Name: "conversations", AgedBy: "greatest(last_message_at, updated_at)", Columns: []Column{
		keep("id", "the row"),
		keep("channel", "volumes per channel"),
		hashInto("contact_id", "contact_key", "contact", "the person; the hash keeps counts of conversations per distinct contact"),
		derived("contact_key", "the keyed hash of contact_id"),
		cleared("subject", "''", "the contact's words"),
		keep("status", "open and resolved counts"),
		keep("snoozed_until", "a time"),
		keep("assignee_id", "workload per member"),
		keep("team_id", "workload per team"),
		keep("priority", "counts per priority"),
		keep("tags", "the workspace's labels of requests (1 to 64 characters, no spaces): counts per tag"),
		keep("last_message_at", "activity"),
		keep("created_at", "volumes per period"),
		keep("updated_at", "handling times"),
		mark(),
	}}
)

// Categories is the table of truth: what each category covers, in the order
// Enforce applies them. Every table of the runtime's schema is either here
// or in Kept; the schema test holds both against the migrated database.
var Categories = []Spec{
	{
		Category: Sessions,
		Doc: "Sign-in state: sessions idle since the cutoff, failed sign-in attempts, invitations spent (accepted or lapsed), " +
			"API tokens revoked or expired, OAuth connections admins started (mailboxes) and members' email changes never confirmed, by their expiry. " +
			"Anonymize deletes them too: none of it means anything without its person.",
		Tables: []Table{
			{Name: "sessions", AgedBy: "last_seen_at", AnonymizeDeletes: "a session is a person's sign-in"},
			{Name: "login_failures", AgedBy: "failed_at", AnonymizeDeletes: "a keyed attempt at someone's account"},
			{Name: "invites", AgedBy: "coalesce(accepted_at, expires_at)", AnonymizeDeletes: "an invitation is its invitee's address"},
			{Name: "api_tokens", AgedBy: "coalesce(revoked_at, expires_at)", AnonymizeDeletes: "a dead credential; live tokens never age"},
			{Name: "oauth_states", AgedBy: "expires_at", AnonymizeDeletes: "a member's connection of an account: the record its audit entry names, and nothing without its member"},
			{Name: "email_changes", AgedBy: "expires_at", AnonymizeDeletes: "a pending change is its member's new address"},
		},
	},
	{
		Category: AuditLog,
		Doc:      "Who did what to which object, aged by the entry's time.",
		Tables: []Table{{Name: "audit_log", AgedBy: "at", Columns: []Column{
			keep("id", "the row"),
			coarsen("at"),
			hashInto("actor_id", "actor_key", "user", "the member; the hash keeps counts per distinct actor"),
			derived("actor_key", "the keyed hash of actor_id"),
			keep("actor_kind", "user, api or system"),
			keep("action", "counts per action"),
			keep("object_type", "counts per kind of object"),
			{Name: "object_id", Treatment: Hash, Input: "object_type || ':' || object_id",
				Why: "which contact, member or message: hashed in place, so that counts per distinct object stay true"},
			mark(),
		}}},
	},
	{
		Category: UsageEvents,
		Doc:      "Sign-ins, messages sent and received, exports and API calls (usage_events), aged by the event's time.",
		Tables: []Table{{Name: "usage_events", AgedBy: "at", Columns: []Column{
			keep("id", "the row"),
			coarsen("at"),
			keep("kind", "counts per kind"),
			hashInto("user_id", "user_key", "user", "the member; the hash keeps counts of distinct active members"),
			hashInto("contact_id", "contact_key", "contact", "the contact; the hash keeps counts of distinct contacts served"),
			cleared("conversation_id", "NULL", "would tie the event to a conversation that may still name its contact"),
			cleared("message_id", "NULL", "would tie the event to a message"),
			cleared("api_token_id", "NULL", "would tie the event to a member's token"),
			keep("channel", "counts per channel"),
			keep("quantity", "sums"),
			derived("user_key", "the keyed hash of user_id"),
			derived("contact_key", "the keyed hash of contact_id"),
			mark(),
		}}},
	},
	{
		Category: FinancialRecords,
		Doc:      "Invoices, credit notes and payments (financial_records), aged by their issue date. Empty until billing lands.",
		Tables: []Table{{Name: "financial_records", AgedBy: "issued_at", Columns: []Column{
			keep("id", "the row"),
			keep("kind", "invoice, credit note or payment"),
			keep("number", "the unbroken sequence tax law asks for"),
			keep("issued_at", "revenue per period"),
			keep("currency", "sums"),
			keep("amount_minor", "sums"),
			keep("tax_minor", "sums"),
			cleared("billing_name", "NULL", "the person or business billed"),
			cleared("billing_email", "NULL", "their address"),
			cleared("billing_address", "NULL", "their postal address"),
			cleared("tax_id", "NULL", "a sole trader's tax id names them"),
			cleared("external_id", "NULL", "the provider's id, which its records tie to the customer"),
			keep("created_at", "a time"),
			mark(),
		}}},
	},
	{
		Category: DeliveryEvents,
		Doc: "Delivery events of outgoing messages (queued, sent, delivered, read, failed), aged by their own time, " +
			"whatever the age of their message.",
		Tables: []Table{{Name: "delivery_events", AgedBy: "at", Columns: deliveryColumns}},
	},
	{
		Category: Conversations,
		Doc: "Conversations aged by their last activity, the later of their last message and their last change " +
			"(status, assignment, tags), with everything in them: messages, attachments, delivery events, queued " +
			"webhooks, timeline events, members' notifications of notes in them. Conversations of contacts whose processing is restricted are never touched.",
		Tables: []Table{conversationsTable, messagesTable, attachmentsTable, deliveryEventsTable, outboxTable, emailMessagesTable, conversationEventsTable, notificationsTable, conversationReadsTable},
	},
	{
		Category: Contacts,
		Doc: "Contacts with no activity since the cutoff. A contact's last activity is the latest of: the contact's own " +
			"updated_at (created, edited, merged, consent changed), the last activity of each of their conversations, " +
			"those that retention already removed included (contacts.purged_activity_at), their notes' created_at, and " +
			"the updated_at of deals that name them. A contact whose processing is restricted is never touched. Their " +
			"conversations, with everything in them, go with them (Delete) or are anonymised as conversations are (Anonymize).",
		Tables: []Table{
			{Name: "contacts", AgedBy: "the contact's last activity (see Doc)", Columns: []Column{
				keep("id", "the row"),
				cleared("name", "''", "the name"),
				keep("name_key", "generated from name (for duplicate suggestions): it empties when the name is cleared"),
				cleared("emails", "'{}'", "addresses"),
				cleared("phones", "'{}'", "numbers"),
				keep("company_id", "contacts per company: a company is a business, kept"),
				cleared("custom", "'{}'", "free-form attributes"),
				cleared("tags", "'{}'", "labels about the person"),
				cleared("address", "''", "the postal address"),
				keep("marketing_opt_out", "consent counts"),
				keep("processing_restricted", "never true here: restricted contacts are not touched"),
				keep("created_at", "contacts per period"),
				keep("updated_at", "a time"),
				keep("purged_activity_at", "a time"),
				keep("company_sort", "the company's name in lower case, kept by a trigger: a company is a business, kept"),
				mark(),
			}},
			{Name: "contact_identities", Via: "contact_identities.contact_id",
				AnonymizeDeletes: "an identity is nothing but the person's number, address or channel id"},
			{Name: "notes", Via: "notes.contact_id", AnonymizeDeletes: "a note is free text about the person"},
			conversationsTable, messagesTable, attachmentsTable, deliveryEventsTable, outboxTable, emailMessagesTable, conversationEventsTable,
			notificationsTable, conversationReadsTable,
		},
		Unlinks: []Unlink{
			{"deals", "contact_id", "a deal is the business's record: it stays, without its person (Delete only)"},
			{"usage_events", "contact_id", "usage stays, counted without its contact (Delete only)"},
		},
	},
}

// Kept lists the tables that no category covers, with the reason: they are
// kept for the life of the workspace. Erasing a member or a contact
// (runtime/privacy) still reaches into some of them.
var Kept = map[string]string{
	"users":            "the workspace's members: their accounts live as long as they are members; erasing a member removes one",
	"teams":            "the workspace's own structure",
	"team_members":     "the workspace's own structure",
	"companies":        "businesses, not people: the CRM's record of them",
	"pipelines":        "settings: the sales process",
	"pipeline_stages":  "settings: the sales process",
	"deals":            "the business's record of its sales; a deleted contact is unlinked from theirs",
	"canned_replies":   "the workspace's templates",
	"api_channel":      "settings of the built-in API channel",
	"goose_db_version": "the schema's version (goose's own table)",
	"email_sync":       "where each mailbox's sync stands (folder, UIDVALIDITY, last UID): no message or person in it",
	"privacy_requests": "evidence of the rights requests answered: the subject's id, counts and dates; the requester's address is cleared when a request closes",
	"consent_events":   "a contact's consent history, the proof of an objection or a restriction: it goes with the contact (deleted with it, and by an erasure)",
	"workspace_exports": "the owner's whole-workspace exports: not kept, they expire a day after they are built " +
		"(the runtime's sweep deletes them), and any erasure deletes them all",
	"workspace_export_chunks": "the bytes of the whole-workspace exports: " +
		"deleted with them",
	"media_links": "links Telnyx fetches an MMS's files from: a token's hash and an expiry an hour away, no data; " +
		"deleted with their file (a conversation's purge, an erasure) and swept once expired when new ones are made",
}

// spec returns the category's Spec.
func spec(c Category) (Spec, bool) {
	for _, s := range Categories {
		if s.Category == c {
			return s, true
		}
	}
	return Spec{}, false
}
