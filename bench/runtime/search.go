package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
)

// The search measurement runs on the inbox list's seed (a million messages
// over 100,000 conversations of 20,000 contacts). It first gives the seeded
// contacts names, emails and phones from 50 first and 100 last names, and
// the conversations one of 20 subjects, so that prefixes match as many as
// they would in a workspace: "hopp" 1 contact in 100, "grac" 1 in 50, a
// subject word 1 conversation in 20, "ord" every message and "77777" 111.

var firstNames = []string{"Grace", "Ada", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "John",
	"Katherine", "Edsger", "Radia", "Tim", "Hedy", "Donald", "Sophie", "Niklaus", "Jean", "Bjarne",
	"Annie", "Guido", "Mary", "James", "Karen", "Larry", "Shafi", "Robert", "Lynn", "Brian",
	"Anita", "Leslie", "Carol", "Vint", "Joan", "Whitfield", "Evelyn", "Ivan", "Adele", "Fernando",
	"Susan", "Butler", "Ruth", "Peter", "Elizabeth", "Charles", "Klara", "Ole", "Marissa", "Rasmus"}

var lastNames = []string{"Hopper", "Lovelace", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Backus",
	"Johnson", "Dijkstra", "Perlman", "Lee", "Lamarr", "Knuth", "Wilson", "Wirth", "Sammet", "Stroustrup",
	"Easley", "Rossum", "Keller", "Gosling", "Jones", "Page", "Goldwasser", "Tarjan", "Conway", "Kernighan",
	"Borg", "Lamport", "Shaw", "Cerf", "Clarke", "Diffie", "Berezin", "Sutherland", "Goldberg", "Corbato",
	"Kare", "Lampson", "Teitelbaum", "Naur", "Feinler", "Babbage", "Dan", "Dahl", "Mayer", "Lerdorf",
	"Abbott", "Baker", "Carter", "Dawson", "Ellis", "Fischer", "Garcia", "Hughes", "Ibrahim", "Jensen",
	"Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka",
	"Ueda", "Vargas", "Weber", "Xu", "Young", "Zimmermann", "Andersen", "Bianchi", "Costa", "Dubois",
	"Eriksen", "Fontaine", "Gruber", "Horvat", "Ivanova", "Janssen", "Kaur", "Larsen", "Meyer", "Nakamura",
	"Olsen", "Peeters", "Richter", "Silva", "Takahashi", "Urban", "Virtanen", "Wagner", "Yilmaz", "Zeller"}

var subjects = []string{"Refund request", "Order not delivered", "Invoice question", "Change of address", "Broken item",
	"Subscription renewal", "Password reset", "Shipping costs", "Discount code", "Warranty claim",
	"Cancel my order", "Wrong size", "Payment failed", "Bulk pricing", "Opening hours",
	"Gift wrapping", "Tracking number", "Return label", "Product availability", "Feedback"}

// seedSearch renames what seedMessages made: contacts get names, emails
// (first.lastN@domain) and phones (+49151 and seven digits of their
// position), conversations a subject and their number.
func seedSearch(ctx context.Context, dsn string) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	stmts := []struct {
		sql  string
		args []any
	}{
		{`UPDATE contacts k SET name = s.first || ' ' || s.last,
			emails = ARRAY[lower(s.first || '.' || s.last) || s.n || '@' || (ARRAY['example.com', 'mail.example', 'shop.example'])[1 + s.n % 3]],
			phones = ARRAY['+49151' || lpad(s.n::text, 7, '0')]
		  FROM (SELECT id, n, ($1::text[])[1 + n % 50] AS first, ($2::text[])[1 + (n / 50) % 100] AS last
		        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM contacts WHERE name LIKE 'Seeded %') r) s
		  WHERE k.id = s.id`, []any{firstNames, lastNames}},
		{`UPDATE conversations SET subject = ($1::text[])[1 + id % 20] || ' #' || id WHERE subject = 'Seeded'`, []any{subjects}},
		{`ANALYZE`, nil},
	}
	for _, s := range stmts {
		if _, err := c.Exec(ctx, s.sql, s.args...); err != nil {
			return err
		}
	}
	return nil
}

// searchKinds are the searches measured, each a kind of query a member
// types: through GET /api/v1/search (every group) and the inbox list's q=.
var searchKinds = []struct{ kind, q string }{
	{"name prefix, 1 contact in 100", "hopp"},
	{"first and last name", "grace hopper"},
	{"email prefix, 1 contact", "grace.hopper5"},
	{"phone prefix, 10 contacts", "+49151001234"},
	{"phone typed in groups, 10 contacts", "+49 151 0001 23"},
	{"subject word prefix, 1 conversation in 20", "refu"},
	{"message word prefix, 111 messages", "77777"},
	{"message word prefix, every message", "ord"},
	{"two message words", "number 12345"},
	{"nothing matches", "zzyzx"},
}

// measureSearch times each kind of search, n requests each, and returns
// the table's rows.
func measureSearch(client *http.Client, addr, token string, n int) ([][2]string, error) {
	get := func(path string) ([]time.Duration, error) {
		var out []time.Duration
		for i := 0; i < n; i++ {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			s := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("%s: %s", path, resp.Status)
			}
			out = append(out, time.Since(s))
		}
		return out, nil
	}
	var rows [][2]string
	for _, k := range searchKinds {
		q := url.QueryEscape(k.q)
		all, err := get("/api/v1/search?q=" + q)
		if err != nil {
			return nil, err
		}
		list, err := get("/api/v1/conversations?view=all&q=" + q)
		if err != nil {
			return nil, err
		}
		rows = append(rows, [2]string{fmt.Sprintf("search %q (%s): all groups / inbox q=, p50 / p99 of %d", k.q, k.kind, n),
			fmt.Sprintf("%s / %s; %s / %s", pct(all, 50), pct(all, 99), pct(list, 50), pct(list, 99))})
	}
	return rows, nil
}
