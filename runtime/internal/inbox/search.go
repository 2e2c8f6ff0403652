package inbox

import (
	"context"
	"sync"

	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Search groups.
const (
	GroupConversations = "conversations"
	GroupMessages      = "messages"
	GroupContacts      = "contacts"
)

// SearchGroups are the groups in the order they are shown.
var SearchGroups = []string{GroupConversations, GroupMessages, GroupContacts}

// SearchOptions choose what a search returns.
type SearchOptions struct {
	// Group limits the search to one group; "" searches all.
	Group string
	// Limit is the most results of each group (1 to store.MaxSearchLimit).
	Limit int
	// BeforeMessage pages messages: those older than this id.
	BeforeMessage int64
}

// SearchResults are what a search found, by group. More says which groups
// have results beyond the limit.
type SearchResults struct {
	Query         string                `json:"query"`
	Conversations []*store.Conversation `json:"conversations"`
	Messages      []*store.MessageHit   `json:"messages"`
	Contacts      []*store.Contact      `json:"contacts"`
	More          map[string]bool       `json:"more"`
}

// Search finds conversations (by subject or contact), messages (notes
// included) and contacts (by name, email or phone) whose words start with
// the words of text (see store.SearchQuery). Every member may search
// everything the inbox and the contacts list show them: contacts whose
// processing is restricted are found and marked, as those lists show them.
// Bad text gives a *store.SearchError. The groups are searched at once, each
// on its own connection.
func (s *Service) Search(ctx context.Context, text string, o SearchOptions) (*SearchResults, error) {
	q, err := s.Store.ParseSearch(ctx, text)
	if err != nil {
		return nil, err
	}
	res := &SearchResults{Query: q.Text, Conversations: []*store.Conversation{}, Messages: []*store.MessageHit{},
		Contacts: []*store.Contact{}, More: map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	run := func(group string, fn func() (bool, error)) {
		if o.Group != "" && o.Group != group {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			more, err := fn()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			res.More[group] = more
		}()
	}
	run(GroupConversations, func() (more bool, err error) {
		var out []*store.Conversation
		if out, more, err = s.Store.SearchConversations(ctx, q, o.Limit); len(out) > 0 {
			res.Conversations = out
		}
		return more, err
	})
	run(GroupMessages, func() (more bool, err error) {
		var out []*store.MessageHit
		if out, more, err = s.Store.SearchMessages(ctx, q, o.BeforeMessage, o.Limit); len(out) > 0 {
			res.Messages = out
		}
		return more, err
	})
	run(GroupContacts, func() (more bool, err error) {
		var out []*store.Contact
		if out, more, err = s.Store.SearchContacts(ctx, q, o.Limit); len(out) > 0 {
			res.Contacts = out
		}
		return more, err
	})
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return res, nil
}
