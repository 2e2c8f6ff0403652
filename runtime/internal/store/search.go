package store

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Search limits: what a member may type, and how much one group returns.
const (
	MaxSearchLength = 200 // characters
	MaxSearchTerms  = 8   // words
	MaxSearchLimit  = 100 // results of one group
)

// SearchError is a query search refuses, with the reason for the member. It
// is an ErrInvalid about the field q.
type SearchError struct{ Reason string }

func (e *SearchError) Error() string        { return "q: " + e.Reason }
func (e *SearchError) Is(target error) bool { return target == ErrInvalid }

// SearchQuery is what a member typed, read for each way search matches:
//   - contacts (name, emails, phones) and subjects match when every term
//     starts a word of them: "hopp" finds "Grace Hopper", "grace@exa"
//     finds grace@example.com, "+4915" and "4915" find +4915112345678;
//   - message text matches a prefix query over its full-text index, every
//     term the start of a word ('hopp':*).
//
// A word starts at the beginning of the text or after a character that is
// not a letter or a digit.
type SearchQuery struct {
	Text  string
	terms []string // lowercase, as typed between spaces
	// words are the terms quoted for regular expressions.
	words []string
	// phone is the query's digits when it reads as a phone number typed
	// with spaces or dashes ("+49 151 123"), which must start a phone
	// number whatever the grouping.
	phone string
	// tsquery is the prefix query of message text; empty when the terms
	// hold no word the full-text parser keeps. It is the AND of clauses,
	// one per term, whose lexemes are those of the clause.
	tsquery string
	clauses []messageClause
	// highlights are the word starts a snippet marks: each term and the
	// words the full-text parser split it into.
	highlights []string
}

// CheckSearch refuses what search cannot use: too short, too long, too
// many words, or characters that are no text. It returns the terms.
func CheckSearch(text string) ([]string, error) {
	text = strings.TrimSpace(text)
	switch {
	case !utf8.ValidString(text):
		return nil, &SearchError{"type the search as text"}
	case utf8.RuneCountInString(text) > MaxSearchLength:
		return nil, &SearchError{fmt.Sprintf("at most %d characters", MaxSearchLength)}
	}
	alnum := 0
	for _, r := range text {
		if unicode.IsControl(r) {
			return nil, &SearchError{"type the search as text"}
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			alnum++
		}
	}
	if alnum < 2 {
		return nil, &SearchError{"type at least 2 letters or digits"}
	}
	// Quotes are taken for grouping, which search does not do: every term
	// must match anyway.
	var terms []string
	for _, t := range strings.Fields(strings.ToLower(text)) {
		if t = strings.Trim(t, `"`); t != "" {
			terms = append(terms, t)
		}
	}
	if len(terms) > MaxSearchTerms {
		return nil, &SearchError{fmt.Sprintf("at most %d words", MaxSearchTerms)}
	}
	return terms, nil
}

// ParseSearch reads text as a search. Bad input gives a *SearchError.
func (s *Store) ParseSearch(ctx context.Context, text string) (_ *SearchQuery, err error) {
	defer wrap(&err, "ParseSearch")
	terms, err := CheckSearch(text)
	if err != nil {
		return nil, err
	}
	q := &SearchQuery{Text: strings.TrimSpace(text), terms: terms}
	for _, t := range terms {
		q.words = append(q.words, regexpQuote(t))
		q.highlights = append(q.highlights, t)
	}
	q.phone = phoneQuery(q.Text)

	// Message text is matched through the full-text parser's words, so the
	// query is split as the text was: "grace@exa" into grace and exa, which
	// also start the words of "Grace at exa.example"; the whole term is an
	// alternative, for the single lexeme the parser makes of a whole email
	// address ('grace@example.com').
	rows, err := s.Pool.Query(ctx, `SELECT coalesce((SELECT array_agg(lexeme) FROM unnest(to_tsvector('simple', t))), '{}')
		FROM unnest($1::text[]) WITH ORDINALITY u(t, n) ORDER BY n`, terms)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var clauses []string
	i := 0
	for rows.Next() {
		var lexemes []string
		if err := rows.Scan(&lexemes); err != nil {
			return nil, err
		}
		term := terms[i]
		i++
		if len(lexemes) == 0 {
			continue
		}
		var and []string
		for _, l := range lexemes {
			and = append(and, tsLexeme(l)+":*")
			if l != term {
				q.highlights = append(q.highlights, l)
			}
		}
		clause := strings.Join(and, " & ")
		if len(lexemes) > 1 || lexemes[0] != term {
			clause = "( " + clause + " ) | " + tsLexeme(term) + ":*"
		}
		clauses = append(clauses, "( "+clause+" )")
		q.clauses = append(q.clauses, messageClause{query: "( " + clause + " )", lexemes: lexemes})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	q.tsquery = strings.Join(clauses, " & ")
	return q, nil
}

// regexpQuote escapes s for a PostgreSQL regular expression (ARE): every
// ASCII character that is not a letter or digit is taken literally when
// escaped, and letters and digits must not be (\d is a class).
func regexpQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < utf8.RuneSelf && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tsLexeme quotes one lexeme for tsquery input.
func tsLexeme(l string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(l, `\`, `\\`), `'`, `''`) + "'"
}

// phoneQuery returns the digits of text when it reads as a phone number
// typed in groups ("+49 151-123", "(0151) 123"): only digits, spaces, +,
// -, ., ( and ), with at least 4 digits. Otherwise "".
func phoneQuery(text string) string {
	var digits []byte
	grouped := false
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
			grouped = true
		case c == '+':
		default:
			return ""
		}
	}
	if !grouped || len(digits) < 4 {
		return "" // one term: the word-start match finds it already
	}
	return string(digits)
}

// planned is passed first to the queries of search: each execution is
// planned for its own words (an unnamed statement). A prepared statement
// would switch to a generic plan after five runs, which cannot know
// whether a pattern is rare, and scans whole tables for rare ones.
const planned = pgx.QueryExecModeExec

// wordStart is where a word may start in a regular expression: at the
// beginning, or after a space or ASCII punctuation (not after a letter,
// digit or any other character). [^[:alnum:]] would say more, but
// pg_trgm cannot read trigrams out of so large a class and scans the whole
// index; with this one it reads the word-start trigrams (" ho", "hop").
const wordStart = "(^|[ -/:-@\\[-`{-~])"

// wordsMatch is the condition that every term starts a word of expr (a
// lowercase text), adding the terms to args.
func (q *SearchQuery) wordsMatch(expr string, args *[]any) string {
	var and []string
	for _, w := range q.words {
		*args = append(*args, wordStart+w)
		and = append(and, fmt.Sprintf("%s ~ $%d::text", expr, len(*args)))
	}
	return "(" + strings.Join(and, " AND ") + ")"
}

// contactMatch is the condition that a contact (alias k) matches.
func (q *SearchQuery) contactMatch(k string, args *[]any) string {
	expr := "contact_search_text(" + k + ".name, " + k + ".emails, " + k + ".phones)"
	cond := q.wordsMatch(expr, args)
	if q.phone != "" {
		*args = append(*args, wordStart+`\+?`+q.phone)
		cond = fmt.Sprintf("(%s OR %s ~ $%d::text)", cond, expr, len(*args))
	}
	return cond
}

// recent is the clause that keeps the n most recently active conversations
// of a branch (alias s). The planner finds them either by the branch's
// index and a sort, when it expects few matches, or by walking
// conversations newest first until it has n, when it expects many: a
// common word then costs no more than a rare one.
func recent(n int) string {
	return " ORDER BY s.last_message_at DESC, s.id DESC LIMIT " + strconv.Itoa(n)
}

// conversationBranches are queries of (id, last_message_at) of the n most
// recently active conversations whose subject matches, and of those whose
// contact does; older is a further condition on s.
func (q *SearchQuery) conversationBranches(n int, older string, args *[]any) []string {
	return []string{
		"(SELECT s.id, s.last_message_at FROM conversations s WHERE s.contact_id IS NOT NULL AND " +
			q.wordsMatch("lower(s.subject)", args) + older + recent(n) + ")",
		"(SELECT s.id, s.last_message_at FROM conversations s WHERE s.contact_id IN (SELECT k.id FROM contacts k WHERE " +
			q.contactMatch("k", args) + ")" + older + recent(n) + ")",
	}
}

// conversationFilter is the inbox list's condition on c.id: conversations
// whose subject or contact matches, each branch the searchWindow most
// recently active older than the list's cursor, or with one of the
// messages hits (messageHits).
func (q *SearchQuery) conversationFilter(hits []int64, v View, args *[]any) string {
	older := ""
	if !v.BeforeAt.IsZero() {
		*args = append(*args, v.BeforeAt, v.BeforeID)
		older = fmt.Sprintf(" AND (s.last_message_at, s.id) < ($%d, $%d)", len(*args)-1, len(*args))
	}
	branches := q.conversationBranches(searchWindow, older, args)
	for i, b := range branches {
		branches[i] = "SELECT id FROM " + b + " b"
	}
	if len(hits) > 0 {
		*args = append(*args, hits)
		branches = append(branches, fmt.Sprintf("SELECT m.conversation_id FROM messages m WHERE m.id = ANY($%d::bigint[])", len(*args)))
	}
	return "c.id IN (" + strings.Join(branches, " UNION ") + ")"
}

// messageWindow is how many of the newest messages a search reads one by
// one before it turns to the full-text index.
const messageWindow = 5000

// messageHits returns the ids of the newest messages that match, older
// than before when it is not 0, at most k of them.
//
// How many messages a prefix matches is what the planner cannot tell: its
// statistics know the most common words, and guess 2% for a prefix of none
// of them, which makes it walk messages newest first for a prefix that
// matches nothing. So the walk is bounded here: the newest messageWindow
// messages are read one by one (a common prefix is done there), and only
// if they hold fewer than enough matches does the full-text index find the
// older ones; a prefix that rare matches few messages.
func (s *Store) messageHits(ctx context.Context, q *SearchQuery, before int64, k, enough int) (_ []int64, err error) {
	defer wrap(&err, "messageHits")
	if q.tsquery == "" {
		return nil, nil
	}
	if before <= 0 {
		before = math.MaxInt64
	}
	var read, floor int64
	var ids []int64
	err = s.Pool.QueryRow(ctx, `WITH w AS MATERIALIZED (SELECT m.id, m.search FROM messages m WHERE m.id < $1 ORDER BY m.id DESC LIMIT `+
		strconv.Itoa(messageWindow)+`)
		SELECT (SELECT count(*) FROM w), coalesce((SELECT min(id) FROM w), 0),
			ARRAY(SELECT id FROM w WHERE search @@ $2::tsquery ORDER BY id DESC LIMIT $3)`, planned, before, q.tsquery, k).Scan(&read, &floor, &ids)
	if err != nil || len(ids) >= enough || read < messageWindow {
		return ids, err
	}
	// The index finds the matches of the rarest term, and the others are
	// checked on those: for a prefix, the index gathers every match of
	// it first, which for "number" in "number 12345" is every message
	// (150 ms at a million, against 0.2 ms for 12345 alone).
	driver, err := s.rarestClause(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := s.Pool.Query(ctx, `WITH h AS MATERIALIZED (SELECT m.id, m.search FROM messages m WHERE m.search @@ $1::tsquery AND m.id < $2)
		SELECT id FROM h WHERE search @@ $3::tsquery ORDER BY id DESC LIMIT $4`, planned, driver, floor, q.tsquery, k-len(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// SearchConversations lists conversations whose subject or contact
// matches, most recent activity first, at most limit of them; more says
// whether there are others.
func (s *Store) SearchConversations(ctx context.Context, q *SearchQuery, limit int) (_ []*Conversation, more bool, err error) {
	defer wrap(&err, "SearchConversations")
	limit = searchLimit(limit)
	var args []any
	branches := q.conversationBranches(limit+1, "", &args)
	rows, err := s.Pool.Query(ctx, `SELECT `+convCols+` FROM (SELECT DISTINCT id, last_message_at FROM (`+
		strings.Join(branches, " UNION ALL ")+`) b ORDER BY last_message_at DESC, id DESC LIMIT `+strconv.Itoa(limit+1)+`) h
		JOIN conversations c ON c.id = h.id JOIN contacts ct ON ct.id = c.contact_id
		ORDER BY c.last_message_at DESC, c.id DESC`, append([]any{planned}, args...)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*Conversation
	for rows.Next() {
		c, err := scanConv(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, c)
	}
	if len(out) > limit {
		return out[:limit], true, rows.Err()
	}
	return out, false, rows.Err()
}

// SearchContacts lists contacts whose name, an email or a phone matches,
// by name, at most limit of them; more says whether there are others.
func (s *Store) SearchContacts(ctx context.Context, q *SearchQuery, limit int) (_ []*Contact, more bool, err error) {
	defer wrap(&err, "SearchContacts")
	limit = searchLimit(limit)
	var args []any
	cond := q.contactMatch("k", &args)
	args = append(args, limit+1)
	rows, err := s.Pool.Query(ctx, `SELECT `+contactCols+` FROM contacts k WHERE `+cond+`
		ORDER BY lower(k.name), k.id LIMIT $`+strconv.Itoa(len(args)), append([]any{planned}, args...)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, false, err
		}
		out = append(out, c)
	}
	if len(out) > limit {
		return out[:limit], true, rows.Err()
	}
	return out, false, rows.Err()
}

// MessageHit is a message that matched, with where it is and the part of
// its text to show.
type MessageHit struct {
	ID             int64     `json:"id"`
	ConversationID int64     `json:"conversationId"`
	Channel        string    `json:"channel"`
	Direction      string    `json:"direction"`
	CreatedAt      time.Time `json:"createdAt"`
	ContactID      int64     `json:"contactId"`
	ContactName    string    `json:"contactName"`
	Subject        string    `json:"subject"`
	// Snippet is the text around the first match, in parts: the ones with
	// Hit set are word starts the query matched.
	Snippet []SnippetPart `json:"snippet"`
}

// SnippetPart is a piece of a snippet.
type SnippetPart struct {
	Text string `json:"text"`
	Hit  bool   `json:"hit,omitempty"`
}

// SearchMessages lists messages (notes included) whose text matches,
// newest first, older than beforeID when it is not 0, at most limit of
// them; more says whether there are others. Messages of conversations
// whose contact was anonymised are not found, as the inbox does not list
// those conversations.
func (s *Store) SearchMessages(ctx context.Context, q *SearchQuery, beforeID int64, limit int) (_ []*MessageHit, more bool, err error) {
	defer wrap(&err, "SearchMessages")
	limit = searchLimit(limit)
	if q.tsquery == "" {
		return nil, false, nil
	}
	ids, err := s.messageHits(ctx, q, beforeID, limit+1, limit+1)
	if err != nil || len(ids) == 0 {
		return nil, false, err
	}
	rows, err := s.Pool.Query(ctx, `SELECT m.id, m.conversation_id, m.channel, m.direction, m.created_at, ct.id, ct.name, c.subject, m.body
		FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id
		WHERE m.id = ANY($1) ORDER BY m.id DESC`, planned, ids)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*MessageHit
	for rows.Next() {
		h := &MessageHit{}
		var body string
		if err := rows.Scan(&h.ID, &h.ConversationID, &h.Channel, &h.Direction, &h.CreatedAt, &h.ContactID, &h.ContactName, &h.Subject, &body); err != nil {
			return nil, false, err
		}
		h.Snippet = Snippet(body, q.highlights, snippetLength)
		out = append(out, h)
	}
	if len(out) > limit {
		return out[:limit], true, rows.Err()
	}
	return out, false, rows.Err()
}

// messageClause is the part of a message query that one term makes.
type messageClause struct {
	query   string
	lexemes []string
}

// rarestClause returns the clause of q that the statistics of
// messages.search say matches fewest messages: a term with a lexeme none of
// the most common words starts with is taken as rare.
func (s *Store) rarestClause(ctx context.Context, q *SearchQuery) (_ string, err error) {
	defer wrap(&err, "rarestClause")
	if len(q.clauses) < 2 {
		return q.tsquery, nil
	}
	var patterns []string
	for _, c := range q.clauses {
		for _, l := range c.lexemes {
			patterns = append(patterns, strings.TrimPrefix(likePattern(l), "%")) // starts with l
		}
	}
	rows, err := s.Pool.Query(ctx, `SELECT e, f FROM pg_stats st,
			unnest(st.most_common_elems::text::text[], st.most_common_elem_freqs) AS u(e, f)
		WHERE st.schemaname = current_schema() AND st.tablename = 'messages' AND st.attname = 'search' AND e LIKE ANY($1)`, planned, patterns)
	if err != nil {
		return "", err
	}
	freq := map[string]float64{}
	for rows.Next() {
		var e string
		var f float64
		if err := rows.Scan(&e, &f); err != nil {
			return "", err
		}
		freq[e] = f
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	best, bestFreq := q.clauses[0].query, 2.0
	for _, c := range q.clauses {
		// A clause matches no more often than its rarest lexeme prefix.
		cf := 1.0
		for _, l := range c.lexemes {
			var sum float64
			for e, f := range freq {
				if strings.HasPrefix(e, l) {
					sum += f
				}
			}
			cf = min(cf, sum)
		}
		if cf < bestFreq {
			best, bestFreq = c.query, cf
		}
	}
	return best, nil
}

func searchLimit(n int) int {
	if n <= 0 || n > MaxSearchLimit {
		return 10
	}
	return n
}

// snippetLength is how many characters of a message a snippet shows.
const snippetLength = 160

// Snippet cuts text to about length characters around the first word that
// starts with one of words (lowercase), and marks each such word start in
// what it keeps. Runs of white space become one space.
func Snippet(text string, words []string, length int) []SnippetPart {
	rs := []rune(strings.Join(strings.Fields(text), " "))
	lower := make([]rune, len(rs))
	for i, r := range rs {
		lower[i] = unicode.ToLower(r)
	}
	ws := make([][]rune, 0, len(words))
	for _, w := range words {
		if w != "" {
			ws = append(ws, []rune(w))
		}
	}
	// hits[i] is the length of the match starting at i, the longest word.
	hits := make([]int, len(rs))
	first := -1
	for i := range lower {
		if i > 0 && isWordRune(lower[i-1]) {
			continue
		}
		for _, w := range ws {
			if len(w) > hits[i] && hasPrefix(lower[i:], w) {
				hits[i] = len(w)
			}
		}
		if hits[i] > 0 && first < 0 {
			first = i
		}
	}
	start := 0
	if first > length/4 {
		start = first - length/4
		if rs[start-1] != ' ' { // start at a word
			for j := start; j < first; j++ {
				if rs[j] == ' ' {
					start = j + 1
					break
				}
			}
		}
	}
	end := min(len(rs), start+length)
	if end < len(rs) && rs[end] != ' ' { // end at one
		for j := end - 1; j > first; j-- {
			if rs[j] == ' ' {
				end = j
				break
			}
		}
	}
	var parts []SnippetPart
	var b strings.Builder
	flush := func(hit bool) {
		if b.Len() > 0 {
			parts = append(parts, SnippetPart{Text: b.String(), Hit: hit})
			b.Reset()
		}
	}
	if start > 0 {
		b.WriteString("…")
	}
	for i := start; i < end; {
		if n := hits[i]; n > 0 {
			flush(false)
			n = min(n, end-i)
			b.WriteString(string(rs[i : i+n]))
			flush(true)
			i += n
			continue
		}
		b.WriteRune(rs[i])
		i++
	}
	if end < len(rs) {
		b.WriteString("…")
	}
	flush(false)
	return parts
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func hasPrefix(s, p []rune) bool {
	if len(p) > len(s) {
		return false
	}
	for i := range p {
		if s[i] != p[i] {
			return false
		}
	}
	return true
}
