-- Email channels (runtime/internal/channels/email): where each mailbox's
-- sync stands, and the headers that thread a conversation's mails.

-- +goose Up

-- One row per (channel, mailbox): the mailbox's UIDVALIDITY and the last
-- UID stored. A different UIDVALIDITY voids last_uid: the mailbox is read
-- again from the start, deduplicated by Message-ID.
CREATE TABLE email_sync (
    channel     text NOT NULL,
    mailbox     text NOT NULL,
    uidvalidity bigint NOT NULL,
    last_uid    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, mailbox)
);

-- The threading headers of every mail of an email channel, in and out.
-- header_id is the Message-ID without angle brackets ('' when the mail had
-- none); an outbound mail's is generated before its first attempt and kept,
-- so that a retry sends the same one. reply_address is, for an inbound
-- mail, where a reply goes (Reply-To, else From); for an outbound one, the
-- address it went to.
CREATE TABLE email_messages (
    message_id    bigint PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
    channel       text NOT NULL,
    header_id     text NOT NULL,
    in_reply_to   text NOT NULL DEFAULT '',
    refs          text[] NOT NULL DEFAULT '{}',
    subject       text NOT NULL DEFAULT '',
    reply_address text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_messages_header_idx ON email_messages (channel, header_id) WHERE header_id <> '';

-- +goose Down
DROP TABLE email_messages;
DROP TABLE email_sync;
