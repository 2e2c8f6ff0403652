-- A member's change of their own email address waits here until they open
-- the confirmation link sent to the new address (issue 12, rectification).
-- One pending change per member: asking again replaces it. The link's
-- token is kept as its SHA-256 hash, as invites' are, and works once,
-- until expires_at. The row goes with the member.

-- +goose Up
CREATE TABLE email_changes (
    -- id orders retention's batches, as every table's id does.
    id         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    new_email  text NOT NULL CHECK (new_email = lower(new_email) AND new_email LIKE '%_@_%'),
    token_hash bytea NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE email_changes;
