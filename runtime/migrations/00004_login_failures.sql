-- +goose Up
-- Sign-in attempts that failed, or are still being checked, shared by every replica of a workspace's runtime so that
-- the login rate limit holds however many replicas the plan runs. The key is
-- a SHA-256 of the scope and the client address or email, so neither is
-- stored here.
CREATE TABLE login_failures (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_hash bytea NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key_hash, failed_at);
CREATE INDEX login_failures_failed_at ON login_failures (failed_at);

-- +goose Down
DROP TABLE login_failures;
