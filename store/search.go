package store

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/helpmail/helpmail"
)

// SearchResult is one ticket found by a full-text search, with the best
// matching message's snippet.
type SearchResult struct {
	Ticket  *helpmail.Ticket `json:"ticket"`
	Message int64            `json:"message"`
	Snippet string           `json:"snippet"`
	Rank    float64          `json:"rank"` // bm25: lower is better
}

// Search finds tickets whose messages (subject or text) match query,
// best first (BM25, subject weighted over text), one result per ticket
// with a snippet where the terms are marked [like this]. The query is a
// list of words, all of which must match; "word*" matches a prefix and
// "exact phrase" in double quotes a phrase. Operators of FTS5's own
// syntax are taken as words, so no query can be a syntax error. Templated
// notifications are not searched: they repeat every ticket's subject and
// the same boilerplate, which would only add noise to the ranking.
func (tx *Tx) Search(ctx context.Context, query string, limit int) ([]SearchResult, error) {
	match := ftsQuery(query)
	if match == "" {
		return nil, helpmail.Errorf(helpmail.EINVALID, "empty search query")
	}
	if limit <= 0 {
		limit = 20
	}
	rows, err := tx.tx.QueryContext(ctx, `
		WITH hits AS (
			SELECT m.ticket AS ticket, m.id AS message,
				snippet(messages_fts, -1, '[', ']', '…', 16) AS snip,
				bm25(messages_fts, 4.0, 1.0) AS rank
			FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
			WHERE messages_fts MATCH ? AND m.ticket IS NOT NULL AND m.kind != ?
		), best AS (
			SELECT ticket, message, snip, rank,
				ROW_NUMBER() OVER (PARTITION BY ticket ORDER BY rank, message) AS n
			FROM hits
		)
		SELECT `+prefixed("t", ticketColumns)+`, best.message, best.snip, best.rank
		FROM best JOIN tickets t ON t.number = best.ticket
		WHERE best.n = 1 ORDER BY best.rank, t.number DESC LIMIT ?`, match, string(helpmail.KindNotification), limit)
	if err != nil {
		return nil, fmt.Errorf("search %q: %w", query, err)
	}
	defer rows.Close()
	var out []SearchResult
	for rows.Next() {
		var r SearchResult
		r.Ticket = &helpmail.Ticket{}
		if err := scanTicketInto(rows, r.Ticket, &r.Message, &r.Snippet, &r.Rank); err != nil {
			return nil, err
		}
		r.Snippet = strings.Join(strings.Fields(r.Snippet), " ")
		out = append(out, r)
	}
	return out, rows.Err()
}

// ftsQuery turns user input into an FTS5 query: every word or "phrase"
// quoted (so FTS5 operators lose their meaning), a trailing * kept as a
// prefix search, all terms required.
func ftsQuery(q string) string {
	var terms []string
	for len(q) > 0 {
		q = strings.TrimLeftFunc(q, unicode.IsSpace)
		if q == "" {
			break
		}
		var term string
		if q[0] == '"' {
			end := strings.IndexByte(q[1:], '"')
			if end < 0 {
				term, q = q[1:], ""
			} else {
				term, q = q[1:1+end], q[2+end:]
			}
		} else {
			end := strings.IndexFunc(q, unicode.IsSpace)
			if end < 0 {
				end = len(q)
			}
			term, q = q[:end], q[end:]
		}
		prefix := strings.HasSuffix(term, "*")
		term = strings.Trim(term, "*")
		if strings.TrimSpace(term) == "" {
			continue
		}
		quoted := `"` + strings.ReplaceAll(term, `"`, `""`) + `"`
		if prefix {
			quoted += "*"
		}
		terms = append(terms, quoted)
	}
	return strings.Join(terms, " ")
}

// prefixed qualifies every column of a column list with a table alias. A
// function over a column ("COALESCE(col, 0)") gets the alias on its first
// argument; commas inside parentheses do not split the list.
func prefixed(alias, cols string) string {
	var parts []string
	depth, start := 0, 0
	for i, r := range cols {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, cols[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, cols[start:])
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if fn, args, ok := strings.Cut(p, "("); ok {
			p = fn + "(" + alias + "." + strings.TrimSpace(args)
		} else {
			p = alias + "." + p
		}
		parts[i] = p
	}
	return strings.Join(parts, ", ")
}
