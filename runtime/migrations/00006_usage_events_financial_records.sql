-- Usage events and financial records: two of the categories a
-- RetentionPolicy names (usageEvents, financialRecords) that the runtime did
-- not store yet. runtime/privacy/retention maps every category to its tables.

-- +goose Up

-- One row per sign-in, message sent or received, export and API call: ids
-- and counts only, never a name, an address or text. Usage is usually kept
-- longer than what it counts (conversations go first), so its conversation,
-- message and token ids are not foreign keys and may name rows that are
-- gone. Its member and contact are: erasing either unlinks their usage.
CREATE TABLE usage_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind IN ('sign_in', 'message_sent', 'message_received', 'export', 'api_call')),
    user_id         bigint REFERENCES users (id) ON DELETE SET NULL,
    contact_id      bigint REFERENCES contacts (id) ON DELETE SET NULL,
    conversation_id bigint,
    message_id      bigint,
    api_token_id    bigint,
    channel         text,
    -- How many: 1, or the rows of an export.
    quantity        bigint NOT NULL DEFAULT 1 CHECK (quantity >= 0),
    -- Set when retention anonymises the row: keyed hashes of the member and
    -- the contact, so that counts of distinct members and contacts stay true.
    user_key        bytea,
    contact_key     bytea,
    anonymized_at   timestamptz
);
CREATE INDEX usage_events_at_idx ON usage_events (at);
CREATE INDEX usage_events_user_idx ON usage_events (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX usage_events_contact_idx ON usage_events (contact_id) WHERE contact_id IS NOT NULL;

-- The workspace's invoices, credit notes and payments, kept as tax law
-- requires. Empty until billing lands; the columns are what an invoice must
-- show, so that retention and anonymisation have something real to act on.
CREATE TABLE financial_records (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('invoice', 'credit_note', 'payment')),
    number          text NOT NULL,
    issued_at       timestamptz NOT NULL,
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_minor    bigint NOT NULL,
    tax_minor       bigint NOT NULL DEFAULT 0,
    billing_name    text,
    billing_email   text,
    billing_address text,
    tax_id          text,
    -- The payment provider's id for the record (a Stripe invoice id).
    external_id     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    anonymized_at   timestamptz,
    UNIQUE (kind, number)
);
CREATE INDEX financial_records_issued_idx ON financial_records (issued_at);

-- +goose Down
DROP TABLE financial_records, usage_events;
