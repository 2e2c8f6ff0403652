package store

import (
	"context"
	"unicode/utf8"
)

// Name duplicates are looked for among contacts whose normalised names
// (contacts.name_key, see migration 00020) share a block: the same first
// word and the initial of the last, or the same last word and the initial
// of the first. "jon smith" and "john smith" meet in the block "smith j".
// Blocks of more than maxNameBlock contacts are skipped: a name that common
// ("info", or one imported thousands of times) says nothing about who is
// whom, and comparing its members would take time quadratic in their number.
// Pairs in a block are compared in Go by edit distance.
const (
	maxNameBlock      = 40
	maxNameCandidates = 50_000 // candidate pairs read at most, which bounds the time whatever the data
)

// similarNames returns pairs (lower id first) of contacts whose names are
// alike.
func (s *Store) similarNames(ctx context.Context) ([][2]int64, error) {
	// String functions rather than regular expressions, and a hash
	// aggregate rather than a window: at 100,000 contacts this takes a
	// quarter of the time.
	rows, err := s.Pool.Query(ctx, `WITH k AS MATERIALIZED (
			SELECT id, name_key AS key, split_part(name_key, ' ', 1) AS f, reverse(split_part(reverse(name_key), ' ', 1)) AS l
			FROM contacts WHERE name_key <> ''
		), b AS MATERIALIZED (
			SELECT id, key, '1 ' || f || ' ' || left(l, 1) AS blk FROM k
			UNION ALL
			SELECT id, key, '2 ' || l || ' ' || left(f, 1) FROM k WHERE l <> f
		), blocks AS (
			SELECT blk FROM b GROUP BY blk HAVING count(*) BETWEEN 2 AND $1
		)
		SELECT a.id, c.id, a.key, c.key FROM blocks JOIN b a USING (blk) JOIN b c ON c.blk = a.blk AND c.id > a.id
		WHERE abs(length(a.key) - length(c.key)) <= 2
		LIMIT $2`, maxNameBlock, maxNameCandidates)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[[2]int64]bool{}
	var out [][2]int64
	for rows.Next() {
		var p [2]int64
		var a, b string
		if err := rows.Scan(&p[0], &p[1], &a, &b); err != nil {
			return nil, err
		}
		if !seen[p] && SimilarNames(a, b) {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, rows.Err()
}

// SimilarNames says whether two normalised names (contacts.name_key) may
// be one person's: equal, or a typo apart. Short names must be equal, one
// of 5 to 9 characters may differ by one edit, a longer one by two.
func SimilarNames(a, b string) bool {
	n := min(utf8.RuneCountInString(a), utf8.RuneCountInString(b))
	switch {
	case n < 3:
		return false
	case a == b:
		return true
	case n < 5:
		return false
	case n < 10:
		return editDistance(a, b, 1) <= 1
	}
	return editDistance(a, b, 2) <= 2
}

// editDistance is the Levenshtein distance of a and b in runes, or max+1
// as soon as it is known to exceed max.
func editDistance(a, b string, max int) int {
	x, y := []rune(a), []rune(b)
	if d := len(x) - len(y); d > max || -d > max {
		return max + 1
	}
	prev := make([]int, len(y)+1)
	cur := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > max {
			return max + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(y)]
}
