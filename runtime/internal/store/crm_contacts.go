package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Limits on a contact's fields, so that one contact (or one CSV row) cannot
// grow without bound.
const (
	MaxNameLen        = 200 // characters, for contact, company, pipeline and stage names
	MaxValues         = 50  // emails, phones or tags on one contact
	MaxTagLen         = 64
	MaxCustomKeys     = 100
	MaxCustomKeyLen   = 64
	MaxCustomValueLen = 2000
	MaxAddressLen     = 500 // characters, for contact and company addresses
)

// ContactRow is a contact as lists show it, with its company's name.
type ContactRow struct {
	Contact
	CompanyName string `json:"companyName"`
	// LastActivityAt is the last message of the contact's conversations
	// (ListContacts only; nil if none).
	LastActivityAt *time.Time `json:"lastActivityAt,omitempty"`
	// Cursor is where a page of a sorted list that ends with this row
	// leaves off (ContactFilter.After); empty for a list by id.
	Cursor string `json:"-"`
}

// Consent changes a contact's consent flags; nil leaves a flag as it is.
// Each change is recorded in consent_events with its source ("agent",
// "api", "request", "channel" or "import"), the member who made it and the
// rights request behind it, if any.
type Consent struct {
	MarketingOptOut      *bool
	ProcessingRestricted *bool
	Source               string
	ActorID, RequestID   *int64
}

// ContactFilter selects contacts for a list.
type ContactFilter struct {
	Search    string // a substring of the name, an email or a phone number
	Tag       string
	CompanyID int64
	AfterID   int64 // paging by id: contacts with a larger id
	Limit     int   // 1 to 200; 50 if out of range
	// Sort is a ContactSorts key ("" sorts by id), Desc reverses it, and
	// After is the Cursor of the last row of the page before (paging a
	// sorted list; AfterID pages the list by id).
	Sort  string
	Desc  bool
	After string
}

// ContactSorts are the orders a contact list can take: the value each
// compares, then the id, so that paging is stable. All but activity have an
// index on (value, id) (migrations 00020 and 00025; company_sort is kept by
// triggers from the company's name). Activity is not kept on the contact (it
// would cost every inbound message a write of its contact, see migration
// 00025): listContactsByActivity walks conversations instead, and this
// expression is only its definition.
var ContactSorts = map[string]string{
	"name":     `lower(c.name)`,
	"email":    `coalesce(c.emails[1], '')`,
	"company":  `c.company_sort`,
	"created":  `c.created_at`,
	"activity": `coalesce((SELECT max(v.last_message_at) FROM conversations v WHERE v.contact_id = c.id), '-infinity')`,
}

// DuplicatePair is two contacts that share an email address or a phone
// number, or have similar names, and may be one person.
type DuplicatePair struct {
	A      *ContactRow `json:"a"` // the lower id
	B      *ContactRow `json:"b"`
	Shared []string    `json:"shared"` // "email", "phone", "name" (a similar one), in that order
}

// Activity is one item of a contact's timeline.
type Activity struct {
	Kind string    `json:"kind"` // conversation, note or deal
	ID   int64     `json:"id"`
	At   time.Time `json:"at"` // a conversation's last message, a note's creation, a deal's last change
	// Conversations.
	Channel string `json:"channel,omitempty"`
	Status  string `json:"status,omitempty"`
	// Notes.
	Body     string `json:"body,omitempty"`
	AuthorID *int64 `json:"authorId,omitempty"`
	// Deals.
	Title      string `json:"title,omitempty"`
	StageName  string `json:"stageName,omitempty"`
	ValueMinor *int64 `json:"valueMinor,omitempty"` // nil: no value
	Currency   string `json:"currency,omitempty"`
}

// ContactColumn says which of a contact's own fields a column or attribute
// name denotes, ignoring case, spaces, dashes and underscores: "name",
// "emails", "phones", "company", "tags", "marketingOptOut" or
// "processingRestricted". CSV import and export map columns with it, and a
// custom attribute may not take such a name, since it would shadow the field.
func ContactColumn(name string) (field string, ok bool) {
	key := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '_' {
			return -1
		}
		return unicode.ToLower(r)
	}, strings.TrimSpace(name))
	switch key {
	case "name":
		return "name", true
	case "email", "emails":
		return "emails", true
	case "phone", "phones":
		return "phones", true
	case "company":
		return "company", true
	case "tag", "tags":
		return "tags", true
	case "marketingoptout":
		return "marketingOptOut", true
	case "processingrestricted":
		return "processingRestricted", true
	}
	return "", false
}

// ParseEmail checks that s is an email address and returns it as contacts
// keep it: trimmed and lower-cased, so that one address typed twice is found
// as one. (auth.NormalizeEmail only trims and lower-cases a member's email,
// without judging it.)
func ParseEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 || !utf8.ValidString(s) {
		return "", false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > 64 || strings.Contains(domain, "@") ||
		!strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`"(),:;<>[\]`, r) {
			return "", false
		}
	}
	return s, true
}

// ParsePhone checks that s is a phone number and returns it in E.164 form,
// "+" and 6 to 15 digits, dropping the spaces, dashes, dots and parentheses
// people type between digits.
func ParsePhone(s string) (string, bool) {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '+' && i == 0, r >= '0' && r <= '9':
			b.WriteRune(r)
		case unicode.IsSpace(r) || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	out := b.String()
	if !strings.HasPrefix(out, "+") || len(out) < 7 || len(out) > 16 {
		return "", false
	}
	return out, true
}

// ValidTag says whether t can be a contact's tag: 1 to 64 characters without
// spaces, commas or semicolons, which separate tags in forms and CSV cells.
func ValidTag(t string) bool {
	if t == "" || utf8.RuneCountInString(t) > MaxTagLen || !cleanText(t) {
		return false
	}
	return !strings.ContainsFunc(t, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ';' })
}

// cleanText says whether s is text PostgreSQL and a browser both take as is:
// valid UTF-8 without control characters (NUL in particular).
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// checkName trims a name and checks its length and characters.
func checkName(field, s string, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case required && s == "":
		return "", fmt.Errorf("%w: %s is required", ErrInvalid, field)
	case utf8.RuneCountInString(s) > MaxNameLen:
		return "", fmt.Errorf("%w: %s is longer than %d characters", ErrInvalid, field, MaxNameLen)
	case !cleanText(s):
		return "", fmt.Errorf("%w: %s has characters that are not allowed", ErrInvalid, field)
	}
	return s, nil
}

// checkAddress trims a postal address and checks it is one line of text.
func checkAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > MaxAddressLen || !cleanText(s) {
		return "", fmt.Errorf("%w: address: one line of at most %d characters", ErrInvalid, MaxAddressLen)
	}
	return s, nil
}

// checkCustom trims custom attributes and drops empty values: a form's
// cleared field removes the attribute.
func checkCustom(custom map[string]string, contact bool) (map[string]string, error) {
	out := make(map[string]string, len(custom))
	for k, v := range custom {
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if k == "" || utf8.RuneCountInString(k) > MaxCustomKeyLen || !cleanText(k) {
			return nil, fmt.Errorf("%w: custom: a name is 1 to %d characters", ErrInvalid, MaxCustomKeyLen)
		}
		if _, reserved := ContactColumn(k); contact && reserved {
			return nil, fmt.Errorf("%w: custom: %q names a contact field", ErrInvalid, k)
		}
		if utf8.RuneCountInString(v) > MaxCustomValueLen || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("%w: custom: the value of %q is longer than %d characters or not text", ErrInvalid, k, MaxCustomValueLen)
		}
		out[k] = v
	}
	if len(out) > MaxCustomKeys {
		return nil, fmt.Errorf("%w: custom: more than %d attributes", ErrInvalid, MaxCustomKeys)
	}
	return out, nil
}

// checkValues normalizes a list of emails, phones or tags and drops
// duplicates. Values the contact already has (cur) pass as they are: ingest
// records an identifier as the channel names it, and editing the contact's
// name must not fail on that.
func checkValues(field string, vals, cur []string, norm func(string) (string, bool), what string) ([]string, error) {
	out := make([]string, 0, len(vals))
	seen := map[string]bool{}
	for i, v := range vals {
		if !slices.Contains(cur, v) {
			n, ok := norm(v)
			if !ok {
				return nil, fmt.Errorf("%w: %s: entry %d is not %s", ErrInvalid, field, i+1, what)
			}
			v = n
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	// A merge may have left more than the limit; such a contact stays editable.
	if len(out) > MaxValues && len(out) > len(cur) {
		return nil, fmt.Errorf("%w: %s: more than %d entries", ErrInvalid, field, MaxValues)
	}
	return out, nil
}

// CheckContact normalizes c's editable fields in place and checks them, as
// CreateContact (cur nil) and UpdateContact (cur the contact as stored) do,
// without writing: a caller writing several things checks first.
func CheckContact(c, cur *Contact) error {
	var err error
	var curEmails, curPhones, curTags []string
	if cur != nil {
		curEmails, curPhones, curTags = cur.Emails, cur.Phones, cur.Tags
	}
	if c.Name, err = checkName("name", c.Name, false); err != nil {
		return err
	}
	if c.Emails, err = checkValues("emails", c.Emails, curEmails, ParseEmail, "an email address"); err != nil {
		return err
	}
	if c.Phones, err = checkValues("phones", c.Phones, curPhones, ParsePhone, "a phone number in international form (+ and 6 to 15 digits)"); err != nil {
		return err
	}
	tag := func(t string) (string, bool) { t = strings.TrimSpace(t); return t, ValidTag(t) }
	if c.Tags, err = checkValues("tags", c.Tags, curTags, tag, "a tag of 1 to 64 characters without spaces, commas or semicolons"); err != nil {
		return err
	}
	if c.Custom, err = checkCustom(c.Custom, true); err != nil {
		return err
	}
	if c.Address, err = checkAddress(c.Address); err != nil {
		return err
	}
	if c.Name == "" && len(c.Emails) == 0 && len(c.Phones) == 0 {
		return fmt.Errorf("%w: name: a contact needs a name, an email address or a phone number", ErrInvalid)
	}
	return nil
}

func contactWriteError(err error) error {
	if isForeignKey(err) {
		return fmt.Errorf("%w: companyId: no such company", ErrInvalid)
	}
	return err
}

// notWritable explains why a guarded write to a contact touched no row.
func notWritable(ctx context.Context, q Querier, id int64) error {
	var restricted bool
	if err := q.QueryRow(ctx, `SELECT processing_restricted FROM contacts WHERE id = $1`, id).Scan(&restricted); err != nil {
		return notFound(err)
	}
	if restricted {
		return ErrRestricted
	}
	return ErrConflict
}

// CreateContact adds a contact.
func (s *Store) CreateContact(ctx context.Context, q Querier, c *Contact) (_ *Contact, err error) {
	defer wrap(&err, "CreateContact")
	if q == nil {
		q = s.Pool
	}
	if err := CheckContact(c, nil); err != nil {
		return nil, err
	}
	custom, _ := json.Marshal(c.Custom)
	out, err := scanContact(q.QueryRow(ctx, `INSERT INTO contacts (name, emails, phones, company_id, custom, tags, address, marketing_opt_out, processing_restricted)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+contactCols,
		c.Name, c.Emails, c.Phones, c.CompanyID, custom, c.Tags, c.Address, c.MarketingOptOut, c.ProcessingRestricted))
	if err != nil {
		return nil, contactWriteError(err)
	}
	return out, nil
}

// UpdateContact replaces a contact's name, emails, phones, company, custom
// attributes, tags and address. Consent flags change through SetContactConsent only.
// A restricted contact gives ErrRestricted.
func (s *Store) UpdateContact(ctx context.Context, q Querier, c *Contact) (_ *Contact, err error) {
	defer wrap(&err, "UpdateContact(%d)", c.ID)
	if q == nil {
		q = s.Pool
	}
	cur, err := s.ContactByID(ctx, q, c.ID)
	if err != nil {
		return nil, err
	}
	if cur.ProcessingRestricted {
		return nil, ErrRestricted
	}
	if err := CheckContact(c, cur); err != nil {
		return nil, err
	}
	custom, _ := json.Marshal(c.Custom)
	// The guard in WHERE holds should a restriction land between the read and the write.
	out, err := scanContact(q.QueryRow(ctx, `UPDATE contacts SET name = $2, emails = $3, phones = $4, company_id = $5, custom = $6, tags = $7,
			address = $8, updated_at = now()
		WHERE id = $1 AND NOT processing_restricted RETURNING `+contactCols,
		c.ID, c.Name, c.Emails, c.Phones, c.CompanyID, custom, c.Tags, c.Address))
	if errors.Is(err, ErrNotFound) {
		return nil, notWritable(ctx, q, c.ID)
	}
	if err != nil {
		return nil, contactWriteError(err)
	}
	return out, nil
}

// SetContactConsent changes a contact's consent flags. While processing is
// restricted the only change allowed is lifting the restriction (with which
// the marketing flag may change too); anything else gives ErrRestricted.
func (s *Store) SetContactConsent(ctx context.Context, q Querier, id int64, c Consent) (_ *Contact, err error) {
	defer wrap(&err, "SetContactConsent(%d)", id)
	if q == nil {
		q = s.Pool
	}
	if !contains(ConsentSources, c.Source) {
		return nil, fmt.Errorf("%w: consent source is one of %s", ErrInvalid, strings.Join(ConsentSources, ", "))
	}
	var out *Contact
	err = s.inTx(ctx, q, func(tx pgx.Tx) error {
		var wasOptOut, wasRestricted bool
		if err := tx.QueryRow(ctx, `SELECT marketing_opt_out, processing_restricted FROM contacts WHERE id = $1 FOR UPDATE`, id).Scan(&wasOptOut, &wasRestricted); err != nil {
			return notFound(err)
		}
		var err error
		out, err = scanContact(tx.QueryRow(ctx, `UPDATE contacts SET marketing_opt_out = coalesce($2, marketing_opt_out),
				processing_restricted = coalesce($3, processing_restricted), updated_at = now()
			WHERE id = $1 AND (NOT processing_restricted OR $3::boolean IS FALSE) RETURNING `+contactCols,
			id, c.MarketingOptOut, c.ProcessingRestricted))
		if errors.Is(err, ErrNotFound) {
			return notWritable(ctx, tx, id)
		}
		if err != nil {
			return err
		}
		return recordConsentEvents(ctx, tx, id, wasOptOut, wasRestricted, out, c)
	})
	return out, err
}

const contactRowCols = `c.id, c.name, c.emails, c.phones, c.company_id, c.custom, c.tags, c.address, c.marketing_opt_out, c.processing_restricted,
	c.created_at, c.updated_at, coalesce(co.name, '')`

const contactRowFrom = ` FROM contacts c LEFT JOIN companies co ON co.id = c.company_id`

// scanContactRow reads contactRowCols, then into extra any columns after them.
func scanContactRow(row pgx.Row, extra ...any) (*ContactRow, error) {
	r := &ContactRow{}
	var custom []byte
	err := row.Scan(append([]any{&r.ID, &r.Name, &r.Emails, &r.Phones, &r.CompanyID, &custom, &r.Tags, &r.Address, &r.MarketingOptOut, &r.ProcessingRestricted,
		&r.CreatedAt, &r.UpdatedAt, &r.CompanyName}, extra...)...)
	if err != nil {
		return nil, notFound(err)
	}
	r.Custom = map[string]string{}
	_ = json.Unmarshal(custom, &r.Custom)
	return r, nil
}

func collectContactRows(rows pgx.Rows) ([]*ContactRow, error) {
	defer rows.Close()
	var out []*ContactRow
	for rows.Next() {
		r, err := scanContactRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// likePattern makes s a LIKE pattern matching it anywhere, its own % and _
// taken literally.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// ListContacts lists contacts by ascending id, or in f.Sort's order.
func (s *Store) ListContacts(ctx context.Context, f ContactFilter) (_ []*ContactRow, err error) {
	defer wrap(&err, "ListContacts")
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	sortExpr, sorted := ContactSorts[f.Sort]
	if f.Sort != "" && !sorted {
		return nil, fmt.Errorf("%w: sort: one of name, email, company, created or activity", ErrInvalid)
	}
	var cursor *contactPos
	if sorted && f.After != "" {
		if cursor, err = parseContactPos(f.Sort, f.After); err != nil {
			return nil, err
		}
	}
	var args []any
	where := contactFilterSQL(f, &args)
	if f.Sort == "activity" {
		return s.listContactsByActivity(ctx, f, cursor, where, args)
	}
	order := "c.id"
	key := "''"
	if !sorted {
		args = append(args, f.AfterID)
		where = append(where, fmt.Sprintf("c.id > $%d", len(args)))
	} else {
		// Keyset paging on (value, id): stable however many rows share a value.
		cmp := ">"
		order = sortExpr + ", c.id"
		if f.Desc {
			cmp, order = "<", sortExpr+" DESC, c.id DESC"
		}
		if cursor != nil {
			typ := "text"
			if f.Sort == "created" {
				typ = "timestamptz"
			}
			args = append(args, cursor.value, cursor.id)
			where = append(where, fmt.Sprintf("(%s, c.id) %s ($%d::%s, $%d)", sortExpr, cmp, len(args)-1, typ, len(args)))
		}
		key = sortExpr + "::text"
		if f.Sort == "created" {
			key = utcText(sortExpr)
		}
	}
	args = append(args, f.Limit)
	rows, err := s.Pool.Query(ctx, `SELECT `+contactRowCols+`, `+key+`,
			(SELECT max(v.last_message_at) FROM conversations v WHERE v.contact_id = c.id)`+contactRowFrom+` WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY %s LIMIT $%d`, order, len(args)), args...)
	if err != nil {
		return nil, err
	}
	return collectSortedContacts(rows, sorted)
}

// contactFilterSQL is f's tag, company and search as conditions on contacts
// c, their values appended to args.
func contactFilterSQL(f ContactFilter, args *[]any) []string {
	where := []string{"true"}
	add := func(cond string, arg any) {
		*args = append(*args, arg)
		where = append(where, fmt.Sprintf(cond, len(*args)))
	}
	if f.Tag != "" {
		add("c.tags @> ARRAY[$%d]::text[]", f.Tag)
	}
	if f.CompanyID != 0 {
		add("c.company_id = $%d", f.CompanyID)
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		*args = append(*args, likePattern(q))
		n := len(*args)
		cond := fmt.Sprintf(`c.name ILIKE $%d OR EXISTS (SELECT 1 FROM unnest(c.emails) e WHERE e ILIKE $%[1]d)
			OR EXISTS (SELECT 1 FROM unnest(c.phones) p WHERE p LIKE $%[1]d`, n)
		// "+44 20 7946" finds +442079460000: phones compare on digits alone.
		if digits := phoneDigits(q); len(digits) >= 3 {
			*args = append(*args, "%"+digits+"%")
			cond += fmt.Sprintf(` OR regexp_replace(p, '[^0-9]', '', 'g') LIKE $%d`, len(*args))
		}
		where = append(where, "("+cond+"))")
	}
	return where
}

// listContactsByActivity lists contacts by their last activity, the newest
// message of any of their conversations, then by id; contacts without a
// conversation have none and sort before all others ("-infinity").
//
// It reads no contact it does not return: contacts with activity come from
// a walk of conversations in last_message_at order, keeping each contact's
// newest conversation only (one probe of conversations_contact_activity_idx
// each), and contacts without one from a walk of contacts by id. The two
// parts are read in one snapshot, in the order the list asks for.
func (s *Store) listContactsByActivity(ctx context.Context, f ContactFilter, cursor *contactPos, where []string, args []any) (out []*ContactRow, err error) {
	tx, err := s.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	cmp, dir := ">", ""
	if f.Desc {
		cmp, dir = "<", " DESC"
	}
	idle := cursor == nil || cursor.value == "-infinity" // the cursor is among contacts without activity, or there is none
	active := func(limit int) ([]*ContactRow, error) {
		a, w := append([]any(nil), args...), append([]string(nil), where...)
		if cursor != nil && cursor.value != "-infinity" {
			a = append(a, cursor.value, cursor.id)
			w = append(w, fmt.Sprintf("(v.last_message_at, v.contact_id) %s ($%d::timestamptz, $%d)", cmp, len(a)-1, len(a)))
		}
		a = append(a, limit)
		rows, err := tx.Query(ctx, `SELECT `+contactRowCols+`, `+utcText("v.last_message_at")+`, v.last_message_at
			FROM conversations v JOIN contacts c ON c.id = v.contact_id LEFT JOIN companies co ON co.id = c.company_id
			WHERE NOT EXISTS (SELECT 1 FROM conversations n WHERE n.contact_id = v.contact_id AND (n.last_message_at, n.id) > (v.last_message_at, v.id))
			AND `+strings.Join(w, " AND ")+
			fmt.Sprintf(` ORDER BY v.last_message_at%s, v.contact_id%[1]s LIMIT $%d`, dir, len(a)), a...)
		if err != nil {
			return nil, err
		}
		return collectSortedContacts(rows, true)
	}
	none := func(limit int) ([]*ContactRow, error) {
		a, w := append([]any(nil), args...), append([]string(nil), where...)
		if cursor != nil && cursor.value == "-infinity" {
			a = append(a, cursor.id)
			w = append(w, fmt.Sprintf("c.id %s $%d", cmp, len(a)))
		}
		a = append(a, limit)
		rows, err := tx.Query(ctx, `SELECT `+contactRowCols+`, '-infinity', NULL::timestamptz`+contactRowFrom+`
			WHERE NOT EXISTS (SELECT 1 FROM conversations v WHERE v.contact_id = c.id) AND `+strings.Join(w, " AND ")+
			fmt.Sprintf(` ORDER BY c.id%s LIMIT $%d`, dir, len(a)), a...)
		if err != nil {
			return nil, err
		}
		return collectSortedContacts(rows, true)
	}
	// Descending: the active contacts, then those without activity.
	// Ascending: the other way round. A cursor skips the part before it, and
	// each part reads only a cursor of its own kind.
	parts := []func(int) ([]*ContactRow, error){active, none}
	if !f.Desc {
		parts = []func(int) ([]*ContactRow, error){none, active}
	}
	if cursor != nil && idle == f.Desc {
		parts = parts[1:] // descending past the active ones, or ascending past the idle ones
	}
	for _, part := range parts {
		rows, err := part(f.Limit - len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		if len(out) == f.Limit {
			break
		}
	}
	return out, tx.Commit(ctx)
}

// collectSortedContacts reads contactRowCols, a sort key and the last
// activity from each row, and with cursors gives each row its cursor.
func collectSortedContacts(rows pgx.Rows, cursors bool) ([]*ContactRow, error) {
	defer rows.Close()
	var out []*ContactRow
	for rows.Next() {
		var k string
		var last *time.Time
		r, err := scanContactRow(rows, &k, &last)
		if err != nil {
			return nil, err
		}
		r.LastActivityAt = last
		if cursors {
			r.Cursor = contactCursor(k, r.ID)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// utcText is the SQL of a timestamptz expression as RFC 3339 text in UTC,
// whatever the session's DateStyle and TimeZone: a cursor's value.
func utcText(expr string) string {
	return `to_char(` + expr + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
}

// contactPos is a parsed cursor: a sort value and an id.
type contactPos struct {
	value string
	id    int64
}

func parseContactPos(sort, after string) (*contactPos, error) {
	v, id, ok := parseContactCursor(after)
	if !ok {
		return nil, fmt.Errorf("%w: after: not a cursor of this list", ErrInvalid)
	}
	if sort == "created" || sort == "activity" {
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil && (v != "-infinity" || sort != "activity") {
			return nil, fmt.Errorf("%w: after: not a cursor of this list", ErrInvalid)
		}
	}
	return &contactPos{value: v, id: id}, nil
}

// contactCursor encodes a sorted list's position: the sort value and the id.
func contactCursor(v string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10) + ":" + v))
}

func parseContactCursor(s string) (string, int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", 0, false
	}
	idText, v, ok := strings.Cut(string(b), ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if !ok || err != nil || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return "", 0, false
	}
	return v, id, true
}

// phoneDigits returns the digits of s if s looks like (part of) a phone
// number, else "".
func phoneDigits(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0, r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			return ""
		}
	}
	return b.String()
}

// ContactsWith returns the contacts that have any of the given emails or
// phones, by ascending id. Values compare exactly, as stored.
func (s *Store) ContactsWith(ctx context.Context, q Querier, emails, phones []string) (_ []*Contact, err error) {
	defer wrap(&err, "ContactsWith")
	if q == nil {
		q = s.Pool
	}
	if len(emails) == 0 && len(phones) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT `+contactCols+` FROM contacts
		WHERE emails && coalesce($1::text[], '{}') OR phones && coalesce($2::text[], '{}') ORDER BY id`, emails, phones)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// MergeChoice says, for the fields a merge cannot combine, which contact's
// value the merged one takes: FromDrop names those that take drop's, "name",
// "company", "address" or "custom.<key>"; the others keep keep's, even an
// empty one. (Without a MergeChoice, keep's values stand unless empty.)
type MergeChoice struct {
	FromDrop []string
}

func (ch *MergeChoice) fromDrop(field string) bool {
	return ch != nil && slices.Contains(ch.FromDrop, field)
}

// MergeContacts folds drop into keep, in one transaction: keep gains drop's
// emails, phones and tags, and the custom attributes it lacks; drop's
// identities, conversations, notes and deals move to keep; drop is deleted.
// keep's name, company and address stand unless empty. An opt-out from marketing on
// either survives the merge. A restricted contact gives ErrRestricted.
func (s *Store) MergeContacts(ctx context.Context, q Querier, keepID, dropID int64) (_ *Contact, err error) {
	return s.MergeContactsChoosing(ctx, q, keepID, dropID, nil)
}

// MergeContactsChoosing is MergeContacts where ch, if not nil, picks the
// values of single-valued fields.
func (s *Store) MergeContactsChoosing(ctx context.Context, q Querier, keepID, dropID int64, ch *MergeChoice) (_ *Contact, err error) {
	defer wrap(&err, "MergeContacts(%d, %d)", keepID, dropID)
	if keepID == dropID {
		return nil, fmt.Errorf("%w: dropId: a contact cannot be merged into itself", ErrInvalid)
	}
	var out *Contact
	err = s.inTx(ctx, q, func(tx pgx.Tx) error {
		// Locking in id order keeps two merges of one pair from deadlocking.
		rows, err := tx.Query(ctx, `SELECT `+contactCols+` FROM contacts WHERE id = ANY($1) ORDER BY id FOR UPDATE`, []int64{keepID, dropID})
		if err != nil {
			return err
		}
		byID := map[int64]*Contact{}
		for rows.Next() {
			c, err := scanContact(rows)
			if err != nil {
				rows.Close()
				return err
			}
			byID[c.ID] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		keep, drop := byID[keepID], byID[dropID]
		if keep == nil || drop == nil {
			return ErrNotFound
		}
		if keep.ProcessingRestricted || drop.ProcessingRestricted {
			return ErrRestricted
		}
		auto := ch == nil
		if (auto && keep.Name == "") || ch.fromDrop("name") {
			keep.Name = drop.Name
		}
		if (auto && keep.CompanyID == nil) || ch.fromDrop("company") {
			keep.CompanyID = drop.CompanyID
		}
		if (auto && keep.Address == "") || ch.fromDrop("address") {
			keep.Address = drop.Address
		}
		for k, v := range drop.Custom {
			if _, ok := keep.Custom[k]; (auto && !ok) || ch.fromDrop("custom."+k) {
				keep.Custom[k] = v
			}
		}
		for k := range keep.Custom {
			if _, ok := drop.Custom[k]; !ok && ch.fromDrop("custom."+k) {
				delete(keep.Custom, k) // drop's "no value" was chosen
			}
		}
		if keep.Name == "" && len(keep.Emails) == 0 && len(keep.Phones) == 0 && len(drop.Emails) == 0 && len(drop.Phones) == 0 {
			return fmt.Errorf("%w: name: the merged contact needs a name, an email address or a phone number", ErrInvalid)
		}
		// The activity of drop's conversations that retention removed
		// counts as keep's (runtime/privacy/retention ages contacts by it).
		if _, err := tx.Exec(ctx, `UPDATE contacts k SET purged_activity_at = greatest(k.purged_activity_at, d.purged_activity_at)
			FROM contacts d WHERE k.id = $1 AND d.id = $2 AND d.purged_activity_at IS NOT NULL`, keepID, dropID); err != nil {
			return err
		}
		for _, table := range []string{"contact_identities", "conversations", "notes", "deals", "usage_events"} {
			if _, err := tx.Exec(ctx, `UPDATE `+table+` SET contact_id = $1 WHERE contact_id = $2`, keepID, dropID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM contacts WHERE id = $1`, dropID); err != nil {
			return err
		}
		custom, _ := json.Marshal(keep.Custom)
		out, err = scanContact(tx.QueryRow(ctx, `UPDATE contacts SET name = $2, emails = $3, phones = $4, company_id = $5, custom = $6, tags = $7,
				marketing_opt_out = $8, address = $9, updated_at = now()
			WHERE id = $1 RETURNING `+contactCols,
			keepID, keep.Name, MergeValues(keep.Emails, drop.Emails), MergeValues(keep.Phones, drop.Phones), keep.CompanyID, custom,
			MergeValues(keep.Tags, drop.Tags), keep.MarketingOptOut || drop.MarketingOptOut, keep.Address))
		return err
	})
	return out, err
}

// MergeValues returns a's values then b's new ones, in order: how a
// contact's emails, phones and tags grow when another contact or an
// imported row is merged into it.
func MergeValues(a, b []string) []string {
	out := append(make([]string, 0, len(a)+len(b)), a...)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// DuplicateContacts lists pairs of contacts that share an email address
// (ignoring case) or a phone number (comparing digits only), or whose names
// are alike (see similarNames), by ids.
func (s *Store) DuplicateContacts(ctx context.Context, limit int) (_ []*DuplicatePair, err error) {
	defer wrap(&err, "DuplicateContacts")
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	// The values held twice are found first by a hash aggregate, and only
	// their holders are paired: a self-join of every value took seconds at
	// 100,000 contacts.
	rows, err := s.Pool.Query(ctx, `WITH v AS MATERIALIZED (
			SELECT c.id, 'email' AS kind, lower(e) AS val FROM contacts c, unnest(c.emails) e
			UNION ALL
			SELECT c.id, 'phone', regexp_replace(p, '[^0-9]', '', 'g') FROM contacts c, unnest(c.phones) p
		), twice AS (
			SELECT kind, val FROM v WHERE val <> '' GROUP BY kind, val HAVING min(id) <> max(id)
		), held AS (
			SELECT DISTINCT v.id, v.kind, v.val FROM twice JOIN v USING (kind, val)
		)
		SELECT a.id, b.id, array_agg(DISTINCT a.kind ORDER BY a.kind)
		FROM held a JOIN held b ON b.kind = a.kind AND b.val = a.val AND b.id > a.id
		GROUP BY a.id, b.id ORDER BY a.id, b.id LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	var pairs []*DuplicatePair
	var ids []int64
	for rows.Next() {
		var a, b int64
		p := &DuplicatePair{}
		if err := rows.Scan(&a, &b, &p.Shared); err != nil {
			rows.Close()
			return nil, err
		}
		p.A, p.B = &ContactRow{Contact: Contact{ID: a}}, &ContactRow{Contact: Contact{ID: b}}
		pairs = append(pairs, p)
		ids = append(ids, a, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	named, err := s.similarNames(ctx)
	if err != nil {
		return nil, err
	}
	byPair := map[[2]int64]*DuplicatePair{}
	for _, p := range pairs {
		byPair[[2]int64{p.A.ID, p.B.ID}] = p
	}
	for _, n := range named {
		if p := byPair[n]; p != nil {
			p.Shared = append(p.Shared, "name")
			continue
		}
		p := &DuplicatePair{A: &ContactRow{Contact: Contact{ID: n[0]}}, B: &ContactRow{Contact: Contact{ID: n[1]}}, Shared: []string{"name"}}
		pairs = append(pairs, p)
		ids = append(ids, n[0], n[1])
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].A.ID != pairs[j].A.ID {
			return pairs[i].A.ID < pairs[j].A.ID
		}
		return pairs[i].B.ID < pairs[j].B.ID
	})
	if len(pairs) > limit {
		pairs = pairs[:limit]
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	rows, err = s.Pool.Query(ctx, `SELECT `+contactRowCols+contactRowFrom+` WHERE c.id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	found, err := collectContactRows(rows)
	if err != nil {
		return nil, err
	}
	byID := map[int64]*ContactRow{}
	for _, c := range found {
		byID[c.ID] = c
	}
	out := pairs[:0]
	for _, p := range pairs {
		// A contact merged away between the two queries drops its pairs.
		if a, b := byID[p.A.ID], byID[p.B.ID]; a != nil && b != nil {
			p.A, p.B = a, b
			out = append(out, p)
		}
	}
	return out, nil
}

// ContactActivity returns a contact's conversations, notes and deals, newest
// first, at most limit (1 to 500; 100 if out of range).
func (s *Store) ContactActivity(ctx context.Context, contactID int64, limit int) (_ []*Activity, err error) {
	defer wrap(&err, "ContactActivity(%d)", contactID)
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	if _, err := s.ContactByID(ctx, nil, contactID); err != nil {
		return nil, err
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT 'conversation' AS kind, id, last_message_at AS at, channel, status, '' AS body, NULL::bigint AS author_id,
			'' AS title, '' AS stage, NULL::bigint AS value_minor, '' AS currency
		FROM conversations WHERE contact_id = $1
		UNION ALL
		SELECT 'note', id, created_at, '', '', body, author_id, '', '', 0, '' FROM notes WHERE contact_id = $1
		UNION ALL
		SELECT 'deal', d.id, d.updated_at, '', '', '', NULL, d.title, s.name, d.value_minor, d.currency
		FROM deals d JOIN pipeline_stages s ON s.id = d.stage_id WHERE d.contact_id = $1
		ORDER BY at DESC, kind, id DESC LIMIT $2`, contactID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Activity
	for rows.Next() {
		a := &Activity{}
		if err := rows.Scan(&a.Kind, &a.ID, &a.At, &a.Channel, &a.Status, &a.Body, &a.AuthorID, &a.Title, &a.StageName,
			&a.ValueMinor, &a.Currency); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ExportContacts reads every contact, by ascending id, from one snapshot.
// header gets the names of all custom attributes in use, sorted, before the
// first call of row.
func (s *Store) ExportContacts(ctx context.Context, header func(customKeys []string) error, row func(*ContactRow) error) (err error) {
	defer wrap(&err, "ExportContacts")
	tx, err := s.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT DISTINCT k FROM contacts, jsonb_object_keys(custom) k`)
	if err != nil {
		return err
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	sort.Strings(keys) // in Go: the database's collation may differ
	if err := header(keys); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `SELECT `+contactRowCols+contactRowFrom+` ORDER BY c.id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanContactRow(rows)
		if err != nil {
			return err
		}
		if err := row(r); err != nil {
			return err
		}
	}
	return rows.Err()
}
