-- The runtime's schema. Every table holds one tenant's data: a workspace has
-- its own database, so no table carries a tenant id.

-- +goose Up

-- Team and access -----------------------------------------------------------

CREATE TABLE users (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email                text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name                 text NOT NULL DEFAULT '',
    role                 text NOT NULL CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    password_hash        text NOT NULL,
    must_change_password boolean NOT NULL DEFAULT false,
    disabled_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Sessions are server-side; the cookie holds a random token, the table its hash.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE invites (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL CHECK (email = lower(email)),
    role        text NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
    token_hash  bytea NOT NULL UNIQUE,
    invited_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz
);

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

CREATE TABLE teams (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
    team_id bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);

-- Who did what to which object. Ids only: never message bodies, emails or
-- phone numbers, so erasing a person leaves no personal data here.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    bigint,
    actor_kind  text NOT NULL CHECK (actor_kind IN ('user', 'api', 'system')),
    action      text NOT NULL,
    object_type text NOT NULL,
    object_id   text NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id);

-- CRM --------------------------------------------------------------------------

CREATE TABLE companies (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    domain     text NOT NULL DEFAULT '',
    custom     jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contacts (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                  text NOT NULL DEFAULT '',
    emails                text[] NOT NULL DEFAULT '{}',
    phones                text[] NOT NULL DEFAULT '{}',
    company_id            bigint REFERENCES companies (id) ON DELETE SET NULL,
    custom                jsonb NOT NULL DEFAULT '{}',
    tags                  text[] NOT NULL DEFAULT '{}',
    marketing_opt_out     boolean NOT NULL DEFAULT false,
    processing_restricted boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_emails_idx ON contacts USING gin (emails);
CREATE INDEX contacts_phones_idx ON contacts USING gin (phones);
CREATE INDEX contacts_company_idx ON contacts (company_id);

-- How a channel names a contact: a phone number, an email address, a page-scoped id.
CREATE TABLE contact_identities (
    channel    text NOT NULL,
    identifier text NOT NULL,
    contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    PRIMARY KEY (channel, identifier)
);
CREATE INDEX contact_identities_contact_idx ON contact_identities (contact_id);

CREATE TABLE notes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    author_id  bigint REFERENCES users (id) ON DELETE SET NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_contact_idx ON notes (contact_id, created_at DESC);

CREATE TABLE pipelines (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pipeline_stages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pipeline_id bigint NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name        text NOT NULL,
    position    int NOT NULL,
    UNIQUE (pipeline_id, name)
);

CREATE TABLE deals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       text NOT NULL,
    value_minor bigint NOT NULL DEFAULT 0 CHECK (value_minor >= 0),
    currency    text NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    stage_id    bigint NOT NULL REFERENCES pipeline_stages (id),
    owner_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    contact_id  bigint REFERENCES contacts (id) ON DELETE SET NULL,
    company_id  bigint REFERENCES companies (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deals_stage_idx ON deals (stage_id);
CREATE INDEX deals_contact_idx ON deals (contact_id);

-- Inbox --------------------------------------------------------------------------

CREATE TABLE conversations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         text NOT NULL,
    contact_id      bigint NOT NULL REFERENCES contacts (id),
    subject         text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'resolved', 'snoozed')),
    snoozed_until   timestamptz CHECK ((status = 'snoozed') = (snoozed_until IS NOT NULL)),
    assignee_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    team_id         bigint REFERENCES teams (id) ON DELETE SET NULL,
    priority        text NOT NULL DEFAULT 'none' CHECK (priority IN ('none', 'low', 'medium', 'high', 'urgent')),
    tags            text[] NOT NULL DEFAULT '{}',
    last_message_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_list_idx ON conversations (status, last_message_at DESC, id DESC);
CREATE INDEX conversations_assignee_idx ON conversations (assignee_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_team_idx ON conversations (team_id, last_message_at DESC, id DESC);
CREATE INDEX conversations_contact_idx ON conversations (contact_id);
CREATE INDEX conversations_tags_idx ON conversations USING gin (tags);

CREATE TABLE messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    direction       text NOT NULL CHECK (direction IN ('incoming', 'outgoing', 'note')),
    author_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    body            text NOT NULL,
    -- The sender's own id for the message: retries with the same id are one message.
    external_id     text,
    delivery_status text CHECK (delivery_status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    search          tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED
);
CREATE UNIQUE INDEX messages_external_key ON messages (channel, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);
CREATE INDEX messages_search_idx ON messages USING gin (search);

-- Attachment files live in the database, so a workspace's data is one
-- database: backups, exports and erasure cover them with no second store.
CREATE TABLE attachments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    sha256       text NOT NULL,
    data         bytea
);
CREATE INDEX attachments_message_idx ON attachments (message_id);

CREATE TABLE delivery_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    status     text NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    detail     text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_events_message_idx ON delivery_events (message_id, at);

-- Assignment, status, tag, team and priority changes, shown in the conversation timeline.
CREATE TABLE conversation_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    actor_id        bigint REFERENCES users (id) ON DELETE SET NULL,
    kind            text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}',
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_events_conv_idx ON conversation_events (conversation_id, at);

CREATE TABLE canned_replies (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shortcut   text NOT NULL UNIQUE CHECK (shortcut ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    title      text NOT NULL,
    body       text NOT NULL,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Settings of the built-in API channel: where agent replies are delivered.
CREATE TABLE api_channel (
    id             int PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    webhook_url    text NOT NULL DEFAULT '',
    webhook_secret text NOT NULL
);

-- Outgoing deliveries (webhooks), retried until delivered.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL,
    message_id      bigint REFERENCES messages (id) ON DELETE CASCADE,
    payload         jsonb NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    last_error      text NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- +goose Down
DROP TABLE outbox, api_channel, canned_replies, conversation_events, delivery_events, attachments,
    messages, conversations, deals, pipeline_stages, pipelines, notes, contact_identities, contacts,
    companies, audit_log, team_members, teams, api_tokens, invites, sessions, users;
