-- MMS files go out as URLs Telnyx fetches: each link is a random token,
-- kept only as its SHA-256, naming one attachment until it expires.
-- GET /media/{token} serves the file without a session; the link dies
-- with its attachment (erasure, retention) or at expires_at.

-- +goose Up
CREATE TABLE media_links (
    token_hash    text PRIMARY KEY,
    attachment_id bigint NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX media_links_attachment_idx ON media_links (attachment_id);
CREATE INDEX media_links_expiry_idx ON media_links (expires_at);

-- +goose Down
DROP TABLE media_links;
