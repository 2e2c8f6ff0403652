-- Data-subject rights (issue 12): the queue of rights requests, and the
-- history of a contact's consent choices.
--
-- A request names its subject by id only (subject_id, no foreign key): it
-- must outlive an erasure of that subject as evidence of what was done, and
-- the audit log does the same. requester is how to answer the person who
-- asked (an email address, or empty); it is personal data, and is cleared
-- when the request is closed. evidence is ids and counts only: the action
-- taken, rows changed per table and when, never the data itself.

-- +goose Up
CREATE TABLE privacy_requests (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('access', 'rectification', 'erasure', 'restriction', 'objection', 'portability')),
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'completed', 'rejected')),
    subject_type      text NOT NULL CHECK (subject_type IN ('contact', 'member')),
    subject_id        bigint,
    requester         text NOT NULL DEFAULT '',
    source            text NOT NULL CHECK (source IN ('admin', 'api', 'public', 'meta')),
    received_at       timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    assignee_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    created_by        bigint REFERENCES users (id) ON DELETE SET NULL,
    completed_by      bigint REFERENCES users (id) ON DELETE SET NULL,
    completed_at      timestamptz,
    evidence          jsonb NOT NULL DEFAULT '{}',
    -- A random code that a status page without sign-in looks the request
    -- up by (Meta's data-deletion callback, the public request form).
    confirmation_code text UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (due_at >= received_at),
    CHECK ((status IN ('completed', 'rejected')) = (completed_at IS NOT NULL))
);
-- The queue: open requests by due date, and everything newest first.
CREATE INDEX privacy_requests_open_idx ON privacy_requests (due_at) WHERE status IN ('open', 'in_progress');
CREATE INDEX privacy_requests_list_idx ON privacy_requests (received_at DESC, id DESC);
CREATE INDEX privacy_requests_subject_idx ON privacy_requests (subject_type, subject_id);
CREATE INDEX privacy_requests_assignee_idx ON privacy_requests (assignee_id) WHERE assignee_id IS NOT NULL;

-- Every consent choice of a contact, with its time and source: marketing
-- opt-out and opt-in (objection), and processing restriction. contacts'
-- marketing_opt_out and processing_restricted are the current state; this
-- is how it came to be. It goes with the contact.
CREATE TABLE consent_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('marketing_opt_out', 'marketing_opt_in', 'restricted', 'unrestricted')),
    -- agent (the UI), api, request (a rights request), channel (the contact
    -- said so on a channel, e.g. STOP), import.
    source     text NOT NULL CHECK (source IN ('agent', 'api', 'request', 'channel', 'import')),
    actor_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    request_id bigint REFERENCES privacy_requests (id) ON DELETE SET NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_events_contact_idx ON consent_events (contact_id, at DESC);
CREATE INDEX consent_events_actor_idx ON consent_events (actor_id) WHERE actor_id IS NOT NULL;
CREATE INDEX consent_events_request_idx ON consent_events (request_id) WHERE request_id IS NOT NULL;

-- +goose Down
DROP TABLE consent_events;
DROP TABLE privacy_requests;
