-- In-app notifications: a member mentioned in a private note ("@Alex
-- Agent") is told so, once per note. A notification points at the
-- conversation and the note; it holds no text of its own, so erasing or
-- retiring the conversation's words leaves nothing behind in it. It goes
-- with its conversation and its note (retention and contact erasure delete
-- it), and with the member it is for (member erasure deletes it; the member
-- who wrote the note is cleared from it instead).

-- +goose Up
CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('mention')),
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    message_id      bigint REFERENCES messages (id) ON DELETE CASCADE,
    actor_id        bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz
);
-- One notification per member and note, however often the note names them.
CREATE UNIQUE INDEX notifications_once_key ON notifications (user_id, message_id, kind) WHERE message_id IS NOT NULL;
-- A member's list, newest first, and their unread count.
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;
-- Retention and erasure find them by conversation, note and author.
CREATE INDEX notifications_conversation_idx ON notifications (conversation_id);
CREATE INDEX notifications_message_idx ON notifications (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX notifications_actor_idx ON notifications (actor_id) WHERE actor_id IS NOT NULL;

-- +goose Down
DROP TABLE notifications;
