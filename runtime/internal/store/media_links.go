package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// CreateMediaLinks makes a link token for each attachment, valid for ttl,
// and removes expired links. Only the tokens' hashes are stored: the
// tokens, which let anyone holding them fetch the files, are returned once.
func (s *Store) CreateMediaLinks(ctx context.Context, attachmentIDs []int64, ttl time.Duration) (_ []string, err error) {
	defer wrap(&err, "CreateMediaLinks")
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `DELETE FROM media_links WHERE expires_at < now()`); err != nil {
		return nil, err
	}
	tokens := make([]string, len(attachmentIDs))
	for i, id := range attachmentIDs {
		var b [32]byte
		_, _ = rand.Read(b[:])
		tokens[i] = base64.RawURLEncoding.EncodeToString(b[:])
		if _, err := tx.Exec(ctx, `INSERT INTO media_links (token_hash, attachment_id, expires_at) VALUES ($1, $2, now() + $3 * interval '1 second')`,
			mediaTokenHash(tokens[i]), id, ttl.Seconds()); err != nil {
			return nil, err
		}
	}
	return tokens, tx.Commit(ctx)
}

// MediaLink returns the attachment, with its bytes, a link token names;
// ErrNotFound if there is no such link or it expired.
func (s *Store) MediaLink(ctx context.Context, token string) (_ *Attachment, err error) {
	defer wrap(&err, "MediaLink")
	a := &Attachment{}
	err = s.Pool.QueryRow(ctx, `SELECT a.id, a.filename, a.content_type, a.size, a.sha256, coalesce(a.data, '')
		FROM media_links l JOIN attachments a ON a.id = l.attachment_id
		WHERE l.token_hash = $1 AND l.expires_at > now()`, mediaTokenHash(token)).
		Scan(&a.ID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.Data)
	return a, notFound(err)
}

func mediaTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}
