-- The conversation list: where each member last read each conversation (a
-- conversation with an incoming message after that is unread for them),
-- view counts from one index-only scan, and a snooze with no time that
-- lasts until the customer writes again.

-- +goose Up
CREATE TABLE conversation_reads (
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    -- The newest message the member had seen when they last opened it.
    message_id      bigint NOT NULL,
    read_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, conversation_id)
);
CREATE INDEX conversation_reads_conversation_idx ON conversation_reads (conversation_id);

-- Counts of the views (open, pending, snoozed by assignee) read only this
-- index; resolved conversations, the bulk of a large inbox, are not in it.
CREATE INDEX conversations_active_idx ON conversations (status, assignee_id) WHERE status <> 'resolved';

-- A snoozed conversation may have no time: it waits for the customer's reply.
-- (00001's check, named by PostgreSQL, tied snoozed to having a time.)
ALTER TABLE conversations DROP CONSTRAINT conversations_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_snoozed_check CHECK (status = 'snoozed' OR snoozed_until IS NULL);

-- +goose Down
UPDATE conversations SET status = 'open' WHERE status = 'snoozed' AND snoozed_until IS NULL;
ALTER TABLE conversations DROP CONSTRAINT conversations_snoozed_check;
ALTER TABLE conversations ADD CONSTRAINT conversations_check CHECK ((status = 'snoozed') = (snoozed_until IS NOT NULL));
DROP INDEX conversations_active_idx;
DROP TABLE conversation_reads;
