package inbox

import (
	"context"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-dev/switchboard/runtime/internal/live"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// A note mentions a member by writing "@" and their handle: their name, or
// their email address when another active member has the same name (or
// they have none). The handle is what the composer's autocomplete inserts,
// so the text itself says whom it means, for the API as for the browser.
// A unique first name ("@Priya") works too, for notes typed by hand.

// Handle is how a note mentions m among members: their name when it is
// theirs alone, else their email address.
func Handle(m store.Member, members []store.Member) string {
	name := strings.TrimSpace(m.Name)
	if name == "" {
		return m.Email
	}
	for _, o := range members {
		if o.ID != m.ID && strings.EqualFold(strings.TrimSpace(o.Name), name) {
			return m.Email
		}
	}
	return name
}

// Mentioned returns the members body mentions, each once, in the order of
// their first mention. At each "@" that does not continue a word (as in an
// email address written out), the longest handle that follows wins: "@Alex
// Agent" is Alex Agent, not Alex. A name two members share, or a first name
// several have, mentions no one; their email addresses do.
func Mentioned(body string, members []store.Member) []int64 {
	type handle struct {
		text string
		id   int64
	}
	var handles []handle
	firsts := map[string][]int64{}
	for _, m := range members {
		name := strings.TrimSpace(m.Name)
		if name != "" {
			handles = append(handles, handle{name, m.ID})
			if f, _, ok := strings.Cut(name, " "); ok {
				k := strings.ToLower(f)
				firsts[k] = append(firsts[k], m.ID)
			}
		}
		handles = append(handles, handle{m.Email, m.ID})
	}
	for _, m := range members {
		// A first name that is someone's whole name is theirs.
		delete(firsts, strings.ToLower(strings.TrimSpace(m.Name)))
	}
	for k, ids := range firsts {
		if len(ids) == 1 {
			handles = append(handles, handle{k, ids[0]})
		}
	}
	var out []int64
	for i := 0; i < len(body); i++ {
		if body[i] != '@' {
			continue
		}
		if i > 0 {
			if r, _ := utf8.DecodeLastRuneInString(body[:i]); wordRune(r) || strings.ContainsRune(".+-_", r) {
				continue
			}
		}
		rest := body[i+1:]
		best, who := 0, []int64(nil)
		for _, h := range handles {
			n, ok := prefixFold(rest, h.text)
			if !ok || !boundary(rest[n:]) || n < best {
				continue
			}
			if n > best {
				best, who = n, nil
			}
			if !slices.Contains(who, h.id) {
				who = append(who, h.id)
			}
		}
		if len(who) == 1 && !slices.Contains(out, who[0]) {
			out = append(out, who[0])
		}
		if best > 0 {
			i += best
		}
	}
	return out
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// prefixFold says whether s starts with prefix, ignoring case, and how many
// bytes of s that is.
func prefixFold(s, prefix string) (int, bool) {
	if prefix == "" {
		return 0, false
	}
	n := 0
	for _, p := range prefix {
		r, size := utf8.DecodeRuneInString(s[n:])
		if size == 0 || !equalFold(r, p) {
			return 0, false
		}
		n += size
	}
	return n, true
}

func equalFold(a, b rune) bool {
	if a == b {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// boundary says whether a handle may end where rest begins: not inside a
// word, nor inside a longer address ("@ann@example.com.au" is not
// "ann@example.com").
func boundary(rest string) bool {
	r, size := utf8.DecodeRuneInString(rest)
	if size == 0 {
		return true
	}
	if wordRune(r) || r == '@' {
		return false
	}
	if strings.ContainsRune(".-_+", r) {
		next, _ := utf8.DecodeRuneInString(rest[size:])
		return !wordRune(next)
	}
	return true
}

// MentionCandidate is a member the composer offers after "@".
type MentionCandidate struct {
	store.Member
	// Handle is what the composer inserts after "@".
	Handle string `json:"handle"`
}

// MentionCandidates lists up to 8 active members whose name has a word
// starting with prefix, or whose email address starts with it (any case).
func (s *Service) MentionCandidates(ctx context.Context, prefix string) ([]MentionCandidate, error) {
	members, err := s.Store.Members(ctx, nil)
	if err != nil {
		return nil, err
	}
	prefix = strings.ToLower(strings.TrimSpace(prefix))
	out := []MentionCandidate{}
	for _, m := range members {
		if len(out) == 8 {
			break
		}
		if prefix != "" && !candidateMatches(m, prefix) {
			continue
		}
		out = append(out, MentionCandidate{Member: m, Handle: Handle(m, members)})
	}
	return out, nil
}

func candidateMatches(m store.Member, prefix string) bool {
	name := strings.ToLower(m.Name)
	if strings.HasPrefix(name, prefix) || strings.HasPrefix(m.Email, prefix) {
		return true
	}
	for _, w := range strings.Fields(name) {
		if strings.HasPrefix(w, prefix) {
			return true
		}
	}
	return false
}

// notifyMentions tells the members a note mentions, but not its author,
// in tx; it returns those told.
func (s *Service) notifyMentions(ctx context.Context, tx pgx.Tx, actor int64, msg *store.Message) ([]int64, error) {
	if !strings.Contains(msg.Body, "@") {
		return nil, nil
	}
	members, err := s.Store.Members(ctx, tx)
	if err != nil {
		return nil, err
	}
	who := slices.DeleteFunc(Mentioned(msg.Body, members), func(id int64) bool { return id == actor })
	return s.Store.AddNotifications(ctx, tx, "mention", who, msg.ConversationID, &msg.ID, &actor)
}

// publishNotifications tells each member's open pages that their
// notifications changed.
func (s *Service) publishNotifications(ctx context.Context, users []int64) {
	for _, u := range users {
		s.Live.Publish(ctx, live.Event{Type: "notifications.changed", UserID: u})
	}
}

// Notifications lists a member's notifications, newest first.
func (s *Service) Notifications(ctx context.Context, userID int64, f store.NotificationFilter) ([]*store.Notification, error) {
	return s.Store.Notifications(ctx, userID, f)
}

// UnreadNotifications counts a member's unread notifications.
func (s *Service) UnreadNotifications(ctx context.Context, userID int64) (int, error) {
	return s.Store.UnreadNotifications(ctx, userID)
}

// ReadNotification marks one of a member's notifications read (it is being
// opened) and returns it.
func (s *Service) ReadNotification(ctx context.Context, userID, id int64) (*store.Notification, error) {
	n, err := s.Store.ReadNotification(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	s.publishNotifications(ctx, []int64{userID})
	return n, nil
}

// MarkNotificationsRead marks a member's notifications of ids read, or all
// with all, and returns how many were unread.
func (s *Service) MarkNotificationsRead(ctx context.Context, userID int64, ids []int64, all bool) (int64, error) {
	n, err := s.Store.MarkNotificationsRead(ctx, userID, ids, all)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		// The member's other tabs update their bell.
		s.publishNotifications(ctx, []int64{userID})
	}
	return n, nil
}
