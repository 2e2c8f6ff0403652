package privacy

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// bobNeedles are Bob's personal data, which Alice's bundle must not hold.
var bobNeedles = []string{"Bob Bystander", "bob@example.net", "+4930123456", "bob's question", "Hello Bob", "bob-invoice.pdf", "bob note"}

// secretNeedles are the secrets addExportRows stores, which no bundle may hold.
var secretNeedles = []string{"SECRET-PASSWORD-HASH", "SECRET-CSRF", "SECRET-VERIFIER", "SECRET-WEBHOOK",
	"5ec2e7001", "5ec2e7002", "5ec2e7003", "5ec2e7004", "5ec2e7005", "5ec2e7006", "5ec2e7007"}

// alicePDF is the bytes of every attachment in the fixture.
var alicePDF = []byte{1, 2, 3, 4}

// addExportRows adds to newWorld's workspace the rows it lacks that an
// export covers: consent history, usage, email headers, a team, and
// sessions, tokens, invites and OAuth states holding secrets.
func addExportRows(t testing.TB, q store.Querier, w *world) {
	t.Helper()
	exec(t, q, `INSERT INTO consent_events (contact_id, kind, source, actor_id) VALUES ($1, 'marketing_opt_out', 'agent', $2), ($1, 'restricted', 'api', NULL), ($3, 'marketing_opt_out', 'channel', NULL)`,
		w.alice, w.agent, w.bob)
	exec(t, q, `UPDATE contacts SET marketing_opt_out = true WHERE id = $1`, w.alice)
	exec(t, q, `INSERT INTO usage_events (kind, contact_id, channel) VALUES ('message_received', $1, 'email'), ('message_received', $2, 'email'), ('sign_in', NULL, NULL)`, w.alice, w.bob)
	exec(t, q, `INSERT INTO email_messages (message_id, channel, header_id, subject, reply_address)
		SELECT m.id, 'email', 'hdr-' || m.id, 'Question', CASE c.contact_id WHEN $1 THEN 'alice.personal@example.org' ELSE 'bob@example.net' END
		FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.channel = 'email' AND m.direction = 'incoming'`, w.alice)
	team := id(t, q, `INSERT INTO teams (name) VALUES ('Support') RETURNING id`)
	exec(t, q, `INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)`, team, w.agent)
	exec(t, q, `INSERT INTO conversation_reads (user_id, conversation_id, message_id) SELECT $1, id, 0 FROM conversations`, w.owner)
	exec(t, q, `UPDATE users SET password_hash = 'SECRET-PASSWORD-HASH-' || id`)
	exec(t, q, `INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, notice) VALUES ('\x5ec2e70010', $1, 'SECRET-CSRF-1', now() + interval '1 day', '\x5ec2e70020')`, w.agent)
	exec(t, q, `INSERT INTO api_tokens (user_id, name, prefix, token_hash) VALUES ($1, 'ci', 'sbt_ci', '\x5ec2e70030')`, w.agent)
	exec(t, q, `INSERT INTO invites (email, role, token_hash, invited_by, expires_at) VALUES ('new@team.example', 'agent', '\x5ec2e70040', $1, now() + interval '1 day')`, w.owner)
	exec(t, q, `INSERT INTO oauth_states (state_hash, session_hash, user_id, integration, code_verifier, redirect_uri, expires_at)
		VALUES ('\x5ec2e70050', '\x5ec2e70060', $1, 'microsoft', 'SECRET-VERIFIER-1', 'https://ws.example/cb', now() + interval '1 hour')`, w.owner)
	exec(t, q, `INSERT INTO api_channel (webhook_url, webhook_secret) VALUES ('https://hook.example', 'SECRET-WEBHOOK-1')`)
	exec(t, q, `INSERT INTO email_changes (user_id, new_email, token_hash, expires_at) VALUES ($1, 'agent.new@team.example', '\x5ec2e70070', now() + interval '1 day')`, w.agent)
	exec(t, q, `INSERT INTO audit_log (actor_id, actor_kind, action, object_type, object_id) VALUES ($1, 'user', 'note.create', 'note', '1')`, w.agent)
}

// unzip reads a bundle's files.
func unzip(t testing.TB, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the bundle is no zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = data
	}
	return out
}

// objects parses a file of JSON Lines, a JSON array or one JSON object
// into its objects.
func objects(t testing.TB, name string, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	switch {
	case strings.HasSuffix(name, ".jsonl"):
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if line == "" {
				continue
			}
			var o map[string]any
			if err := json.Unmarshal([]byte(line), &o); err != nil {
				t.Fatalf("%s: a line is no JSON object: %v", name, err)
			}
			out = append(out, o)
		}
	case bytes.HasPrefix(data, []byte("[")):
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	default:
		var o map[string]any
		if err := json.Unmarshal(data, &o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, o)
	}
	return out
}

type bundleManifest struct {
	SchemaVersion int              `json:"schema_version"`
	Kind          string           `json:"kind"`
	SubjectID     int64            `json:"subject_id"`
	Counts        map[string]int64 `json:"counts"`
	Attachments   []struct {
		Path         string `json:"path"`
		AttachmentID int64  `json:"attachment_id"`
		Size         int64  `json:"size"`
		SHA256       string `json:"sha256"`
	} `json:"attachments"`
	Excluded map[string]string `json:"excluded"`
}

// checkManifest checks manifest.json against the counts and the files.
func checkManifest(t testing.TB, files map[string][]byte, counts Counts) bundleManifest {
	t.Helper()
	var m bundleManifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if m.SchemaVersion != BundleVersion {
		t.Errorf("manifest schema_version %d, want %d", m.SchemaVersion, BundleVersion)
	}
	if len(m.Counts) != len(counts) {
		t.Errorf("manifest counts %v, the export returned %v", m.Counts, counts)
	}
	for name, n := range counts {
		if m.Counts[name] != n {
			t.Errorf("manifest counts %s=%d, the export returned %d", name, m.Counts[name], n)
		}
		if name == "attachments/" {
			continue
		}
		if _, ok := files[name]; !ok {
			t.Errorf("counts name %s, which the bundle lacks", name)
		} else if name != "notes.json" {
			if got := int64(len(objects(t, name, files[name]))); got != n {
				t.Errorf("%s holds %d objects, counted %d", name, got, n)
			}
		}
	}
	if int64(len(m.Attachments)) != counts["attachments/"] {
		t.Errorf("manifest lists %d attachments, counted %d", len(m.Attachments), counts["attachments/"])
	}
	for _, a := range m.Attachments {
		data, ok := files[a.Path]
		sum := sha256.Sum256(data)
		switch {
		case !ok:
			t.Errorf("manifest lists %s, which the bundle lacks", a.Path)
		case hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(data)) != a.Size:
			t.Errorf("%s: manifest says %d bytes, SHA-256 %s; the file has %d bytes, %x", a.Path, a.Size, a.SHA256, len(data), sum)
		case !bytes.Equal(data, alicePDF):
			t.Errorf("%s holds %x, the database %x", a.Path, data, alicePDF)
		}
	}
	return m
}

// holds lists which of needles the bundle's files hold, ignoring case.
func holds(files map[string][]byte, needles []string) []string {
	var out []string
	for name, data := range files {
		for _, n := range needles {
			if bytes.Contains(bytes.ToLower(data), []byte(strings.ToLower(n))) {
				out = append(out, name+" holds "+n)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestExportContact(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	addExportRows(t, st.Pool, w)

	var buf bytes.Buffer
	counts, err := ExportContact(ctx, st.Pool, w.alice, &buf)
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, buf.Bytes())
	m := checkManifest(t, files, counts)
	if m.Kind != "contact" || m.SubjectID != w.alice {
		t.Errorf("manifest names %s %d, want contact %d", m.Kind, m.SubjectID, w.alice)
	}
	// What the database holds of Alice, counted apart from the export.
	conv := `(SELECT id FROM conversations WHERE contact_id = $1)`
	msgs := `(SELECT id FROM messages WHERE conversation_id IN ` + conv + `)`
	want := Counts{}
	for file, q := range map[string]string{
		"contact.json":             `SELECT count(*) FROM contacts WHERE id = $1`,
		"identities.json":          `SELECT count(*) FROM contact_identities WHERE contact_id = $1`,
		"consent.json":             `SELECT count(*) FROM consent_events WHERE contact_id = $1`,
		"conversations.json":       `SELECT count(*) FROM conversations WHERE contact_id = $1`,
		"messages.jsonl":           `SELECT count(*) FROM messages WHERE direction <> 'note' AND conversation_id IN ` + conv,
		"delivery_events.jsonl":    `SELECT count(*) FROM delivery_events WHERE message_id IN ` + msgs,
		"email_headers.jsonl":      `SELECT count(*) FROM email_messages WHERE message_id IN ` + msgs,
		"conversation_events.json": `SELECT count(*) FROM conversation_events WHERE conversation_id IN ` + conv,
		"deals.json":               `SELECT count(*) FROM deals WHERE contact_id = $1`,
		"usage_events.json":        `SELECT count(*) FROM usage_events WHERE contact_id = $1`,
		"attachments.json":         `SELECT count(*) FROM attachments WHERE message_id IN ` + msgs,
		"attachments/":             `SELECT count(*) FROM attachments WHERE data IS NOT NULL AND message_id IN ` + msgs,
		"notes.json": `SELECT (SELECT count(*) FROM notes WHERE contact_id = $1) +
			(SELECT count(*) FROM messages WHERE direction = 'note' AND conversation_id IN ` + conv + `)`,
	} {
		want[file] = id(t, st.Pool, q, w.alice)
	}
	// The fixture: two conversations, each with a message from Alice, a
	// reply, a private note and an attachment; two notes on her page.
	if want["messages.jsonl"] != 4 || want["notes.json"] != 4 || want["attachments/"] != 2 || want["consent.json"] < 2 {
		t.Fatalf("the fixture changed: %s", want)
	}
	if counts.String() != want.String() {
		t.Errorf("counts\n %s, want\n %s", counts, want)
	}

	contact := objects(t, "contact.json", files["contact.json"])[0]
	for k, v := range map[string]any{"name": "Alice Wonderperson", "company_name": "Acme GmbH", "marketing_opt_out": true,
		"processing_restricted": false, "address": ""} {
		if contact[k] != v {
			t.Errorf("contact.json %s = %v, want %v", k, contact[k], v)
		}
	}
	if b, _ := json.Marshal([]any{contact["tags"], contact["custom"], contact["emails"], contact["phones"]}); string(b) !=
		`[["vip"],{"note":"shoe size 38"},["alice.personal@example.org"],["+4915112345678"]]` {
		t.Errorf("contact.json tags, custom, emails, phones: %s", b)
	}
	byKind := map[string][]string{}
	for _, msg := range objects(t, "messages.jsonl", files["messages.jsonl"]) {
		kind, _ := msg["author_kind"].(string)
		byKind[kind] = append(byKind[kind], msg["body"].(string))
		if kind == "member" && msg["author_name"] != "Arno Agent" {
			t.Errorf("a member's reply names its author %v, want Arno Agent", msg["author_name"])
		}
		for _, k := range []string{"conversation_id", "direction", "created_at", "delivery_status"} {
			if _, ok := msg[k]; !ok {
				t.Errorf("a message lacks %s: %v", k, msg)
			}
		}
	}
	if !slices.Equal(byKind["contact"], []string{"alice's secret message, one", "alice's secret message, two"}) ||
		!slices.Equal(byKind["member"], []string{"Hello Alice Wonderperson", "Hi again"}) {
		t.Errorf("messages by author kind: %v", byKind)
	}
	var notes struct{ AboutContact, InConversations []map[string]any }
	if err := json.Unmarshal(bytes.ReplaceAll(bytes.ReplaceAll(files["notes.json"], []byte(`"about_contact"`), []byte(`"AboutContact"`)),
		[]byte(`"in_conversations"`), []byte(`"InConversations"`)), &notes); err != nil {
		t.Fatalf("notes.json: %v", err)
	}
	if len(notes.AboutContact) != 2 || notes.AboutContact[0]["body"] != "called alice.personal@example.org" ||
		len(notes.InConversations) != 2 || notes.InConversations[0]["body"] != "internal note" || notes.InConversations[0]["author_name"] != "Arno Agent" {
		t.Errorf("notes.json: %s", files["notes.json"])
	}
	var paths []string
	for name := range files {
		if strings.HasPrefix(name, "attachments/") {
			paths = append(paths, name[strings.Index(name, "-")+1:])
		}
	}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"alice-passport.pdf", "alice-photo.jpg"}) {
		t.Errorf("attachment files %v", paths)
	}
	if got := holds(files, append(append(bobNeedles, secretNeedles...), "owner@team.example", "agent@team.example", "Olga Owner")); len(got) > 0 {
		t.Errorf("Alice's bundle holds what is not hers:\n%s", strings.Join(got, "\n"))
	}
	for table := range contactExcluded {
		if m.Excluded[table] == "" {
			t.Errorf("manifest.json does not say why %s is left out", table)
		}
	}

	t.Run("a contact that does not exist", func(t *testing.T) {
		var buf bytes.Buffer
		_, err := ExportContact(ctx, st.Pool, w.bob+1000, &buf)
		if !errors.Is(err, ErrNotFound) || buf.Len() != 0 {
			t.Errorf("got %v and %d bytes, want ErrNotFound and nothing written", err, buf.Len())
		}
	})
}

func TestExportMember(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	addExportRows(t, st.Pool, w)

	var buf bytes.Buffer
	counts, err := ExportMember(ctx, st.Pool, w.agent, &buf)
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, buf.Bytes())
	checkManifest(t, files, counts)
	// The agent wrote 3 notes on contacts, and in each of 3 conversations a
	// reply and a private note.
	want := Counts{"profile.json": 1, "sessions.json": 1, "api_tokens.json": 1, "teams.json": 1, "notifications.json": 3,
		"audit_log.jsonl": 2, "authored_notes.json": 3, "authored_messages.jsonl": 6}
	if counts.String() != want.String() {
		t.Errorf("counts\n %s, want\n %s", counts, want)
	}
	profile := objects(t, "profile.json", files["profile.json"])[0]
	if profile["email"] != "agent@team.example" || profile["name"] != "Arno Agent" {
		t.Errorf("profile.json: %v", profile)
	}
	if got := holds(files, append(secretNeedles, "Olga Owner", "owner@team.example")); len(got) > 0 {
		t.Errorf("the agent's bundle holds secrets or another member's data:\n%s", strings.Join(got, "\n"))
	}
	if _, err := ExportMember(ctx, st.Pool, w.agent+1000, io.Discard); !errors.Is(err, ErrNotFound) {
		t.Errorf("a member who does not exist: %v, want ErrNotFound", err)
	}
}

func TestExportWorkspace(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	w := newWorld(t, st.Pool)
	addExportRows(t, st.Pool, w)

	var buf bytes.Buffer
	counts, err := ExportWorkspace(ctx, st.Pool, &buf)
	if err != nil {
		t.Fatal(err)
	}
	files := unzip(t, buf.Bytes())
	m := checkManifest(t, files, counts)

	// Round trip: every table's file holds as many rows as the table, and
	// every column but the exclusions.
	cols := map[string][]string{}
	for _, c := range columns(t, st) {
		table, col, _ := strings.Cut(c, ".")
		cols[table] = append(cols[table], col)
	}
	for table, tcols := range cols {
		name := "tables/" + table + ".jsonl"
		if reason, ok := excludedTables[table]; ok {
			if _, there := files[name]; there || m.Excluded[table] != reason {
				t.Errorf("%s is excluded, yet the bundle has %s or its manifest gives no reason", table, name)
			}
			continue
		}
		var n int64
		if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		data, ok := files[name]
		if !ok || counts[name] != n {
			t.Errorf("%s: the bundle has it %v, with %d rows; the table has %d", name, ok, counts[name], n)
			continue
		}
		rows := objects(t, name, data)
		if len(rows) == 0 {
			continue
		}
		for _, col := range tcols {
			_, exported := rows[0][col]
			if excluded := m.Excluded[table+"."+col] != ""; exported == excluded {
				t.Errorf("%s.%s: exported %v, excluded %v (%q)", table, col, exported, excluded, m.Excluded[table+"."+col])
			}
		}
	}
	// An exclusion that names nothing in the schema is stale.
	all := columns(t, st)
	for _, m := range []map[string]string{secretColumns, fileColumns} {
		for c := range m {
			if !slices.Contains(all, c) {
				t.Errorf("%s is excluded from exports, but the schema has no such column", c)
			}
		}
	}
	for table := range excludedTables {
		if _, ok := cols[table]; !ok {
			t.Errorf("%s is excluded from the workspace export, but the schema has no such table", table)
		}
	}

	var attachments int64
	st.Pool.QueryRow(ctx, `SELECT count(*) FROM attachments WHERE data IS NOT NULL`).Scan(&attachments)
	if counts["attachments/"] != attachments || attachments != 3 {
		t.Errorf("%d attachment files, %d attachments with bytes (want 3)", counts["attachments/"], attachments)
	}
	if got := holds(files, secretNeedles); len(got) > 0 {
		t.Errorf("the workspace bundle holds secrets:\n%s", strings.Join(got, "\n"))
	}
	if got := holds(files, []string{"Bob Bystander", "alice's secret message", "Olga Owner"}); len(got) != 3 {
		t.Errorf("the workspace bundle should hold everyone's data; it has only:\n%s", strings.Join(got, "\n"))
	}

	t.Run("in a transaction, as it stands", func(t *testing.T) {
		tx, err := st.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		exec(t, tx, `INSERT INTO companies (name) VALUES ('Uncommitted Ltd')`)
		var buf bytes.Buffer
		if _, err := ExportWorkspace(ctx, tx, &buf); err != nil {
			t.Fatal(err)
		}
		if got := holds(unzip(t, buf.Bytes()), []string{"Uncommitted Ltd"}); len(got) != 1 {
			t.Errorf("an export in a transaction does not see its uncommitted row: %v", got)
		}
		exec(t, tx, `SELECT 1`) // the transaction is still usable
	})
}

// beginOnly is a Beginner with nothing but Begin.
type beginOnly struct{ Beginner }

func TestExportSnapshot(t *testing.T) {
	ctx := context.Background()
	st, _ := newDB(t)
	for name, db := range map[string]Beginner{"a pool": st.Pool, "a plain Beginner": beginOnly{st.Pool}} {
		tx, err := beginSnapshot(ctx, db)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var iso, ro string
		if err := tx.QueryRow(ctx, `SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')`).Scan(&iso, &ro); err != nil {
			t.Fatal(err)
		}
		tx.Rollback(ctx)
		if iso != "repeatable read" || ro != "on" {
			t.Errorf("%s: the export reads in %s, read only %s; want repeatable read, on", name, iso, ro)
		}
	}
}
