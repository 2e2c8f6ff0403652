-- API tokens may expire, and may be read-only. Tokens made before keep
-- what they had: no expiry, read and write.

-- +goose Up
ALTER TABLE api_tokens
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN scope text NOT NULL DEFAULT 'read-write' CHECK (scope IN ('read-write', 'read-only'));
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id) WHERE revoked_at IS NULL;

-- +goose Down
DROP INDEX api_tokens_user_idx;
ALTER TABLE api_tokens DROP COLUMN scope, DROP COLUMN expires_at;
