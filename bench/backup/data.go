package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The tenant schema the benchmark fills: the shape of a customer-engagement
// inbox (contacts, conversations, messages), with the indexes and foreign
// keys a runtime would have, so that pg_restore rebuilds them as it would
// for a real tenant.
var schema = []string{
	`CREATE TABLE contacts (
		id bigint PRIMARY KEY,
		name text NOT NULL,
		email text NOT NULL,
		phone text,
		company text,
		city text,
		created_at timestamptz NOT NULL,
		attributes jsonb NOT NULL DEFAULT '{}')`,
	`CREATE INDEX contacts_email ON contacts (email)`,
	`CREATE TABLE conversations (
		id bigint PRIMARY KEY,
		contact_id bigint NOT NULL,
		channel text NOT NULL,
		subject text NOT NULL,
		status text NOT NULL,
		assignee text,
		priority smallint NOT NULL,
		tags text[] NOT NULL DEFAULT '{}',
		created_at timestamptz NOT NULL,
		updated_at timestamptz NOT NULL)`,
	`CREATE INDEX conversations_contact ON conversations (contact_id)`,
	`CREATE INDEX conversations_status ON conversations (status, updated_at)`,
	`CREATE TABLE messages (
		id bigint PRIMARY KEY,
		conversation_id bigint NOT NULL,
		direction text NOT NULL,
		author text NOT NULL,
		body text NOT NULL,
		sent_at timestamptz NOT NULL,
		metadata jsonb NOT NULL DEFAULT '{}')`,
	`CREATE INDEX messages_conversation ON messages (conversation_id, sent_at)`,
}

// Added after the load: a foreign key checks each row as it is copied in,
// which would make the load several times slower.
var foreignKeys = []string{
	`ALTER TABLE conversations ADD FOREIGN KEY (contact_id) REFERENCES contacts (id)`,
	`ALTER TABLE messages ADD FOREIGN KEY (conversation_id) REFERENCES conversations (id)`,
}

// Rows per batch of the load. The database's size is checked between
// batches, so the last batch overshoots the target by at most this much
// (about 35 MiB).
const (
	batchContacts      = 2500
	batchConversations = 10000
	batchMessages      = 50000
)

// epoch is the start of the tenant's history: rows are spread over two years
// from it, so that timestamps vary as real ones do.
var epoch = time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)

const history = 2 * 365 * 24 * time.Hour

// gen makes rows from a seeded RNG: the same seed gives the same database.
type gen struct {
	r     *rand.Rand
	word  *rand.Zipf
	first *rand.Zipf
	last  *rand.Zipf
	sb    strings.Builder
}

func newGen(seed uint64) *gen {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	return &gen{
		r: r,
		// Word frequencies in text follow Zipf's law; s a little above 1
		// is what math/rand allows and close to English.
		word:  rand.NewZipf(r, 1.07, 3, uint64(len(words)-1)),
		first: rand.NewZipf(r, 1.2, 8, uint64(len(firstNames)-1)),
		last:  rand.NewZipf(r, 1.2, 8, uint64(len(lastNames)-1)),
	}
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) name() (first, last string) {
	return firstNames[g.first.Uint64()], lastNames[g.last.Uint64()]
}

func (g *gen) when() time.Time {
	return epoch.Add(time.Duration(g.r.Int64N(int64(history)))).Truncate(time.Millisecond)
}

func (g *gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

func (g *gen) token(n int) string {
	b := make([]byte, (n+1)/2)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return hex.EncodeToString(b)[:n]
}

// sentence writes a sentence of Zipf-distributed words, with now and then
// an order number, an amount or a date, as support conversations have.
func (g *gen) sentence(sb *strings.Builder) {
	n := 5 + g.r.IntN(14)
	for i := 0; i < n; i++ {
		w := words[g.word.Uint64()]
		if i == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		} else {
			sb.WriteByte(' ')
		}
		switch x := g.r.IntN(200); {
		case x == 0:
			sb.WriteString("#" + g.pick(orderPrefixes) + "-" + g.digits(7))
			continue
		case x == 1:
			sb.WriteString(fmt.Sprintf("€%d.%02d", 5+g.r.IntN(500), g.r.IntN(100)))
			continue
		case x == 2:
			sb.WriteString(g.when().Format("2 January"))
			continue
		}
		sb.WriteString(w)
		if i < n-1 && g.r.IntN(12) == 0 {
			sb.WriteByte(',')
		}
	}
	sb.WriteString(g.pick(stops))
}

func (g *gen) paragraph(sb *strings.Builder, sentences int) {
	for i := 0; i < sentences; i++ {
		if i > 0 {
			sb.WriteByte(' ')
		}
		g.sentence(sb)
	}
}

// body is a message text: mostly short chat lines, some emails with a
// greeting, paragraphs, a link with a tracking token and a signature, and a
// few system notes.
func (g *gen) body(channel, author, contactFirst string) string {
	sb := &g.sb
	sb.Reset()
	switch x := g.r.IntN(100); {
	case x < 5:
		first, last := g.name()
		fmt.Fprintf(sb, "%s assigned this conversation to %s %s and set the priority to %s.",
			author, first, last, g.pick(priorities))
	case channel == "email" || x < 30:
		sb.WriteString(g.pick(greetings) + " " + contactFirst + ",\n\n")
		for p := 1 + g.r.IntN(4); p > 0; p-- {
			g.paragraph(sb, 1+g.r.IntN(4))
			sb.WriteString("\n\n")
		}
		if g.r.IntN(3) == 0 {
			sb.WriteString("You can follow it here: https://" + g.pick(domains) + "/t/" + g.token(20) + "\n\n")
		}
		sb.WriteString(g.pick(signoffs) + ",\n" + author)
	default:
		g.paragraph(sb, 1+g.r.IntN(3))
	}
	return sb.String()
}

func (g *gen) contact(id int64) []any {
	first, last := g.name()
	email := strings.ToLower(first + "." + last)
	if g.r.IntN(3) == 0 {
		email += strconv.Itoa(g.r.IntN(100))
	}
	email += "@" + g.pick(domains)
	attrs := fmt.Sprintf(`{"plan": %q, "language": %q, "source": %q, "newsletter": %t, "lifetime_value": %d.%02d, "tags": [%q, %q]}`,
		g.pick(plans), g.pick(languages), g.pick(sources), g.r.IntN(2) == 0, g.r.IntN(5000), g.r.IntN(100),
		g.pick(tags), g.pick(tags))
	return []any{id, first + " " + last, email, "+44 20 " + g.digits(4) + " " + g.digits(4),
		g.pick(companies), g.pick(cities), g.when(), []byte(attrs)}
}

func (g *gen) conversation(id, contacts int64) []any {
	created := g.when()
	g.sb.Reset()
	g.sentence(&g.sb)
	subject := g.sb.String()
	var assignee any
	if g.r.IntN(4) != 0 {
		first, last := g.name()
		assignee = first + " " + last
	}
	return []any{id, 1 + g.r.Int64N(contacts), g.pick(channels), subject, g.pick(statuses), assignee,
		int16(g.r.IntN(4)), []string{g.pick(tags), g.pick(tags)}, created,
		created.Add(time.Duration(g.r.Int64N(int64(30 * 24 * time.Hour))))}
}

func (g *gen) message(id, conversations int64) []any {
	channel := g.pick(channels)
	direction := directions[g.r.IntN(len(directions))]
	first, last := g.name()
	contactFirst, _ := g.name()
	author := first + " " + last
	meta := fmt.Sprintf(`{"channel": %q, "message_id": "<%s@%s>", "ip": "198.51.%d.%d", "user_agent": %q, "spam_score": 0.%02d, "read": %t}`,
		channel, g.token(24), g.pick(domains), g.r.IntN(256), g.r.IntN(256), g.pick(userAgents), g.r.IntN(100), g.r.IntN(2) == 0)
	if g.r.IntN(10) == 0 {
		meta = meta[:len(meta)-1] + fmt.Sprintf(`, "attachments": [{"name": "%s-%s.pdf", "size": %d}]}`,
			g.pick(attachmentNames), g.digits(4), 1000+g.r.IntN(900000))
	}
	return []any{id, 1 + g.r.Int64N(conversations), direction, author, g.body(channel, author, contactFirst),
		g.when(), []byte(meta)}
}

// load fills the tenant database in batches until pg_database_size reaches
// target bytes, then adds the foreign keys and vacuums, so that no dump
// pays for setting hint bits on freshly copied rows.
func load(ctx context.Context, conn *pgx.Conn, seed uint64, target int64, progress func(string)) (counts [3]int64, err error) {
	for _, s := range schema {
		if _, err := conn.Exec(ctx, s); err != nil {
			return counts, fmt.Errorf("creating the schema: %w", err)
		}
	}
	g := newGen(seed)
	for {
		var size int64
		if err := conn.QueryRow(ctx, "SELECT pg_database_size(current_database())").Scan(&size); err != nil {
			return counts, err
		}
		if size >= target {
			progress(fmt.Sprintf("database at %d MiB", size>>20))
			break
		}
		progress(fmt.Sprintf("loading: database at %d of %d MiB", size>>20, target>>20))
		for i, t := range []struct {
			table string
			cols  []string
			n     int64
			row   func(id int64) []any
		}{
			{"contacts", []string{"id", "name", "email", "phone", "company", "city", "created_at", "attributes"}, batchContacts,
				func(id int64) []any { return g.contact(id) }},
			{"conversations", []string{"id", "contact_id", "channel", "subject", "status", "assignee", "priority", "tags", "created_at", "updated_at"}, batchConversations,
				func(id int64) []any { return g.conversation(id, counts[0]) }},
			{"messages", []string{"id", "conversation_id", "direction", "author", "body", "sent_at", "metadata"}, batchMessages,
				func(id int64) []any { return g.message(id, counts[1]) }},
		} {
			first, k := counts[i], int64(0)
			src := pgx.CopyFromFunc(func() ([]any, error) {
				if k == t.n {
					return nil, nil
				}
				k++
				return t.row(first + k), nil
			})
			n, err := conn.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, src)
			if err != nil {
				return counts, fmt.Errorf("loading %s: %w", t.table, err)
			}
			counts[i] += n
		}
	}
	progress("adding foreign keys, vacuuming")
	for _, s := range foreignKeys {
		if _, err := conn.Exec(ctx, s); err != nil {
			return counts, fmt.Errorf("adding foreign keys: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM (FREEZE, ANALYZE)"); err != nil {
		return counts, fmt.Errorf("vacuuming: %w", err)
	}
	return counts, nil
}
