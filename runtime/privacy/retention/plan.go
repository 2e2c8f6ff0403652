package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/privacy"
)

// Plan counts, per category and table, the rows that Enforce with the same
// rules and now would delete or anonymise, and changes nothing: what the
// operator shows before a shortened policy is approved. It reads one
// snapshot (a REPEATABLE READ, read-only transaction when db is a pool or a
// connection; given a transaction, it reads in a savepoint of it). Where
// categories overlap it counts as Enforce acts, in the order of Categories:
// a delivery event that the deliveryEvents rule deletes is not counted
// again with its conversation, nor a conversation that the conversations
// rule removes with its contact. With nothing else writing meanwhile,
// Enforce then reports exactly these counts.
func Plan(ctx context.Context, db Beginner, rules []Rule, now time.Time) ([]Outcome, error) {
	byCat, _, err := checkRules(rules, make([]byte, KeySize))
	if err != nil {
		return nil, err
	}
	var tx pgx.Tx
	if b, ok := db.(interface {
		BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	}); ok {
		tx, err = b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	} else {
		tx, err = db.Begin(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("retention: planning: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	p := &planner{tx: tx, rules: byCat, now: now.UTC()}
	var out []Outcome
	for _, r := range ordered(byCat) {
		o := Outcome{Category: r.Category, Action: r.action(), Cutoff: p.cut(r.Category), Deleted: privacy.Counts{}, Anonymized: privacy.Counts{}}
		if err := p.plan(ctx, r, &o); err != nil {
			return nil, fmt.Errorf("retention: planning %s: %w", r.Category, err)
		}
		out = append(out, o)
	}
	return out, nil
}

type planner struct {
	tx    pgx.Tx
	rules map[Category]Rule
	now   time.Time
}

func (p *planner) cut(c Category) time.Time { return p.now.Add(-p.rules[c].RetainFor) }

func (p *planner) has(c Category) bool { _, ok := p.rules[c]; return ok }

// count adds the rows of sql (a SELECT count(*)) to counts under key.
func (p *planner) count(ctx context.Context, counts privacy.Counts, key, sql string, a args) error {
	var n int64
	if err := p.tx.QueryRow(ctx, sql, a...).Scan(&n); err != nil {
		return fmt.Errorf("counting %s: %w", key, err)
	}
	if n > 0 {
		counts[key] += n
	}
	return nil
}

func (p *planner) plan(ctx context.Context, r Rule, o *Outcome) error {
	s, _ := spec(r.Category)
	act := r.action()
	switch r.Category {
	case Conversations:
		var a args
		cond := convExpired(a.add(o.Cutoff))
		if act == Anonymize {
			cond += " AND c.anonymized_at IS NULL"
		}
		return p.conversations(ctx, o, act, "SELECT c.id FROM conversations c WHERE "+cond, a)
	case Contacts:
		return p.contacts(ctx, o, act)
	case Sessions:
		for _, t := range s.Tables {
			var a args
			q := fmt.Sprintf("SELECT count(*) FROM %s t WHERE %s < %s", t.Name, qualify(t.AgedBy), a.add(o.Cutoff))
			if err := p.count(ctx, o.Deleted, t.Name, q, a); err != nil {
				return err
			}
		}
		return nil
	}
	t := s.Tables[0]
	var a args
	q := fmt.Sprintf("SELECT count(*) FROM %s t WHERE %s < %s", t.Name, qualify(t.AgedBy), a.add(o.Cutoff))
	if r.Category == DeliveryEvents {
		q += " AND " + deliveryNotRestricted
	}
	if act == Delete {
		return p.count(ctx, o.Deleted, t.Name, q, a)
	}
	return p.count(ctx, o.Anonymized, t.Name, q+" AND "+pending(t), a)
}

// deliveryDone is the condition of delivery events (alias t) that an
// earlier deliveryEvents rule already deleted, or (anonymizing) deleted or
// cleared.
func (p *planner) deliveryDone(a *args, anonymizing bool) string {
	if r, ok := p.rules[DeliveryEvents]; !ok || r.action() != Delete && !anonymizing {
		return "false"
	}
	return "t.at < " + a.add(p.cut(DeliveryEvents))
}

// conversations counts what goes with the conversations that scope (SQL of
// their ids, with arguments a) selects.
func (p *planner) conversations(ctx context.Context, o *Outcome, act Action, scope string, a args) error {
	in := func(extra string) (string, args) {
		b := append(args(nil), a...)
		return "IN (" + scope + ")" + extra, b
	}
	ofMessages := func(table, cond string) (string, args) {
		s, b := in("")
		return fmt.Sprintf("SELECT count(*) FROM %s t JOIN messages m ON m.id = t.message_id WHERE m.conversation_id %s%s", table, s, cond), b
	}
	// Queued webhooks go under either action.
	q, b := ofMessages("outbox", "")
	if err := p.count(ctx, o.Deleted, "outbox", q, b); err != nil {
		return err
	}
	q, b = ofMessages("email_messages", "")
	if err := p.count(ctx, o.Deleted, "email_messages", q, b); err != nil {
		return err
	}
	s, b := in("")
	// So do members' notifications of them.
	if err := p.count(ctx, o.Deleted, "notifications", "SELECT count(*) FROM notifications WHERE conversation_id "+s, b); err != nil {
		return err
	}
	if act == Delete {
		for _, x := range []struct{ key, sql string }{
			{"conversations", "SELECT count(*) FROM conversations WHERE id " + s},
			{"conversation_events", "SELECT count(*) FROM conversation_events WHERE conversation_id " + s},
			{"messages", "SELECT count(*) FROM messages WHERE conversation_id " + s},
		} {
			if err := p.count(ctx, o.Deleted, x.key, x.sql, b); err != nil {
				return err
			}
		}
		q, b := ofMessages("attachments", "")
		if err := p.count(ctx, o.Deleted, "attachments", q, b); err != nil {
			return err
		}
		q, b = ofMessages("delivery_events", "")
		q += " AND NOT (" + p.deliveryDone(&b, false) + ")"
		return p.count(ctx, o.Deleted, "delivery_events", q, b)
	}
	if err := p.count(ctx, o.Anonymized, "conversations", "SELECT count(*) FROM conversations WHERE id "+s, b); err != nil {
		return err
	}
	if err := p.count(ctx, o.Anonymized, "messages", "SELECT count(*) FROM messages t WHERE t.conversation_id "+s+" AND "+pending(messagesTable), b); err != nil {
		return err
	}
	q, b = ofMessages("attachments", " AND "+pending(attachmentsTable))
	if err := p.count(ctx, o.Anonymized, "attachments", q, b); err != nil {
		return err
	}
	q, b = ofMessages("delivery_events", " AND "+pending(deliveryEventsTable))
	q += " AND NOT (" + p.deliveryDone(&b, true) + ")"
	return p.count(ctx, o.Anonymized, "delivery_events", q, b)
}

func (p *planner) contacts(ctx context.Context, o *Outcome, act Action) error {
	var a args
	x := contactExpired(a.add(o.Cutoff))
	if act == Anonymize {
		x += " AND ct.anonymized_at IS NULL"
	}
	expired := "SELECT ct.id FROM contacts ct WHERE " + x
	ea := append(args(nil), a...) // the arguments of expired alone
	// Their conversations that an earlier conversations rule has not
	// removed (Delete) or detached from them (Anonymize).
	linked := "SELECT c.id FROM conversations c WHERE c.contact_id IN (" + expired + ")"
	if p.has(Conversations) {
		linked += " AND NOT (" + convExpired(a.add(p.cut(Conversations))) + ")"
	}
	if err := p.conversations(ctx, o, act, linked, a); err != nil {
		return err
	}
	counts := o.Deleted
	if act == Anonymize {
		counts = o.Anonymized
	}
	a = ea
	if err := p.count(ctx, counts, "contacts", "SELECT count(*) FROM ("+expired+") e", a); err != nil {
		return err
	}
	for _, table := range []string{"notes", "contact_identities"} {
		if err := p.count(ctx, o.Deleted, table, "SELECT count(*) FROM "+table+" WHERE contact_id IN ("+expired+")", a); err != nil {
			return err
		}
	}
	if act == Anonymize {
		return nil
	}
	if err := p.count(ctx, o.Anonymized, "deals.contact_id", "SELECT count(*) FROM deals WHERE contact_id IN ("+expired+")", a); err != nil {
		return err
	}
	q := "SELECT count(*) FROM usage_events t WHERE t.contact_id IN (" + expired + ")"
	if p.has(UsageEvents) {
		q += " AND NOT (t.at < " + a.add(p.cut(UsageEvents)) + ")"
	}
	return p.count(ctx, o.Anonymized, "usage_events.contact_id", q, a)
}
