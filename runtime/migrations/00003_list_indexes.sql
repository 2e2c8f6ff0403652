-- Indexes for the working views that filter on no status: the "all" list,
-- and unassigned conversations, newest activity first.

-- +goose Up
CREATE INDEX conversations_recent_idx ON conversations (last_message_at DESC, id DESC);
CREATE INDEX conversations_unassigned_idx ON conversations (last_message_at DESC, id DESC) WHERE assignee_id IS NULL;

-- +goose Down
DROP INDEX conversations_unassigned_idx;
DROP INDEX conversations_recent_idx;
