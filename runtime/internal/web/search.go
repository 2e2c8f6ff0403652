package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-dev/switchboard/runtime/internal/inbox"
	"github.com/switchboard-dev/switchboard/runtime/internal/store"
)

// Results per group: a few of each on the search page, more when it shows
// one group, and what the API is asked for (1 to store.MaxSearchLimit).
const (
	searchPageLimit  = 5
	searchGroupLimit = 25
	searchAPILimit   = 10
)

// searchParams reads q, group, before and (for the API) limit. An empty q
// is no error: the page then shows the form alone.
func searchParams(r *http.Request, limit int) (string, inbox.SearchOptions, error) {
	v := r.URL.Query()
	text := strings.TrimSpace(v.Get("q"))
	o := inbox.SearchOptions{Group: v.Get("group"), Limit: limit}
	if o.Group != "" && !slices.Contains(inbox.SearchGroups, o.Group) {
		return text, o, fieldError("group", "group: want one of %s", strings.Join(inbox.SearchGroups, ", "))
	}
	if o.Group != "" && limit == searchPageLimit {
		o.Limit = searchGroupLimit
	}
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return text, o, fieldError("before", "before: want a message id")
		}
		o.BeforeMessage = n
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxSearchLimit {
			return text, o, fieldError("limit", "limit: want 1 to %d", store.MaxSearchLimit)
		}
		o.Limit = n
	}
	if text != "" {
		if _, err := store.CheckSearch(text); err != nil {
			return text, o, searchError(err)
		}
	}
	return text, o, nil
}

// searchError makes a refused search a 400 about the field q.
func searchError(err error) error {
	var se *store.SearchError
	if errors.As(err, &se) {
		return fieldError("q", "%s", se.Reason)
	}
	return err
}

// search serves /search?q=: conversations, messages and contacts whose
// words start with the words typed, a few of each with a link to the rest,
// or one group (group=) with more, messages paged with before=.
func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	text, o, err := searchParams(r, searchPageLimit)
	data := map[string]any{"Q": text, "Group": o.Group}
	if err == nil && text != "" {
		var res *inbox.SearchResults
		if res, err = s.Inbox.Search(r.Context(), text, o); err == nil {
			data["Res"] = res
			data["Links"] = searchLinks(text, o, res)
			data["Empty"] = len(res.Conversations)+len(res.Messages)+len(res.Contacts) == 0
		}
		err = searchError(err)
	}
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) || he.status != http.StatusBadRequest {
			return err
		}
		// The form comes back with the message next to the field and what
		// was typed in it.
		data["Error"], data["ErrorField"] = he.message, errorField(he)
		if data["ErrorField"] == "q" {
			data["Error"] = strings.TrimPrefix(he.message, "q: ")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadRequest)
	}
	s.render(w, r, "search", data)
	return nil
}

// searchLinks are the page's links: to each group's full list, to the next
// page of messages, back to every group, and to the inbox filtered by the
// same words.
func searchLinks(text string, o inbox.SearchOptions, res *inbox.SearchResults) map[string]string {
	page := func(set ...string) string {
		v := url.Values{"q": {text}}
		for i := 0; i+1 < len(set); i += 2 {
			v.Set(set[i], set[i+1])
		}
		return "/search?" + v.Encode()
	}
	links := map[string]string{
		"all":   page(),
		"inbox": "/inbox?" + url.Values{"view": {"all"}, "q": {text}}.Encode(),
		// A message opens in its conversation, with the list beside it
		// filtered by the same words.
		"conversation": "?" + url.Values{"view": {"all"}, "q": {text}}.Encode(),
	}
	for _, g := range inbox.SearchGroups {
		if res.More[g] && o.Group == "" {
			links[g] = page("group", g)
		}
	}
	if o.Group == inbox.GroupMessages && res.More[inbox.GroupMessages] && len(res.Messages) > 0 {
		links["nextMessages"] = page("group", inbox.GroupMessages, "before", strconv.FormatInt(res.Messages[len(res.Messages)-1].ID, 10))
	}
	return links
}
