-- A one-time notice for the next page a session loads ("Team created.", or a
-- secret shown once such as a new invite link). It is the server's own
-- state, never a URL parameter anyone could forge. It is sealed with a key
-- derived from the session's token, which only the browser holds (the table
-- keeps its hash), so neither the database nor a backup can read it; and it
-- is cleared when shown.

-- +goose Up
ALTER TABLE sessions ADD COLUMN notice bytea;

-- +goose Down
ALTER TABLE sessions DROP COLUMN notice;
