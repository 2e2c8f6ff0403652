package retention

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// KeySize is the length of a pseudonymisation key, in bytes.
const KeySize = 32

// Pseudonym is the keyed hash that Anonymize writes for input, such as
// "contact:42" or "user:7": HMAC-SHA256 under key. The same person gets the
// same pseudonym in every table and every run, so counts of distinct people
// stay true; without the key, a pseudonym cannot be traced back to an id.
func Pseudonym(key []byte, input string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return m.Sum(nil)
}

// TextPseudonym is how a pseudonym is written in place in a text column
// (audit_log.object_id): "anon:" and the first 16 bytes in hex.
func TextPseudonym(key []byte, input string) string {
	return "anon:" + hex.EncodeToString(Pseudonym(key, input)[:16])
}

// pads are the key XORed with HMAC's inner and outer pads: with them,
// PostgreSQL's sha256() computes the HMAC in the UPDATE itself, and no row
// makes a round trip to be hashed.
type pads struct{ inner, outer []byte }

func newPads(key []byte) (*pads, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("retention: the pseudonymisation key must be %d bytes, not %d", KeySize, len(key))
	}
	p := &pads{inner: make([]byte, sha256.BlockSize), outer: make([]byte, sha256.BlockSize)}
	copy(p.inner, key)
	copy(p.outer, key)
	for i := range p.inner {
		p.inner[i] ^= 0x36
		p.outer[i] ^= 0x5c
	}
	return p, nil
}

// args builds a statement's arguments, numbering them.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// hmacSQL is SQL for HMAC-SHA256 of the text expression input.
func (a *args) hmacSQL(p *pads, input string) string {
	return fmt.Sprintf("sha256(%s::bytea || sha256(%s::bytea || convert_to(%s, 'UTF8')))", a.add(p.outer), a.add(p.inner), input)
}

// pending is the SQL condition of t's rows (alias "t") that Anonymize has
// still to change: unmarked ones, or those with a column not yet cleared.
func pending(t Table) string {
	var or []string
	for _, c := range t.Columns {
		switch c.Treatment {
		case Mark:
			return "t.anonymized_at IS NULL"
		case Clear:
			// Every column cleared to '' or '{}' is NOT NULL.
			if c.Empty == "NULL" {
				or = append(or, "t."+c.Name+" IS NOT NULL")
			} else {
				or = append(or, fmt.Sprintf("t.%s <> %s", c.Name, c.Empty))
			}
		case Hash:
			if c.Into != "" {
				or = append(or, "t."+c.Name+" IS NOT NULL")
			}
		}
	}
	return "(" + strings.Join(or, " OR ") + ")"
}

// anonymizeSQL is the UPDATE that anonymises t's pending rows whose column
// match is one of ids, as t's Columns say.
func anonymizeSQL(t Table, match string, ids []int64, p *pads, now any) (string, args) {
	var a args
	where := fmt.Sprintf("t.%s = ANY(%s) AND %s", match, a.add(ids), pending(t))
	var set []string
	for _, c := range t.Columns {
		switch c.Treatment {
		case Clear:
			set = append(set, c.Name+" = "+c.Empty)
		case Coarsen:
			set = append(set, fmt.Sprintf("%s = date_trunc('hour', %s)", c.Name, c.Name))
		case Mark:
			set = append(set, c.Name+" = "+a.add(now))
		case Hash:
			h := a.hmacSQL(p, c.Input)
			if c.Into != "" {
				set = append(set, fmt.Sprintf("%s = CASE WHEN %s IS NULL THEN NULL ELSE %s END", c.Into, c.Name, h), c.Name+" = NULL")
			} else {
				set = append(set, fmt.Sprintf("%s = 'anon:' || left(encode(%s, 'hex'), 32)", c.Name, h))
			}
		}
	}
	return fmt.Sprintf("UPDATE %s AS t SET %s WHERE %s", t.Name, strings.Join(set, ", "), where), a
}

// needsKey says whether anonymising the category hashes anything.
func needsKey(s Spec) bool {
	for _, t := range s.Tables {
		for _, c := range t.Columns {
			if c.Treatment == Hash {
				return true
			}
		}
	}
	return false
}
