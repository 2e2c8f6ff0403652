-- At most once for channels whose provider has no idempotency key (Meta's
-- Graph API, Telnyx): a send that may have reached the provider, but whose
-- answer was lost, is not repeated by the outbox. The message becomes
-- 'unconfirmed' and an agent decides whether to send it again.
--
-- outbox.in_flight is set just before a delivery attempt calls the
-- provider and cleared with its outcome. A claim that finds it still set
-- (the replica died, or its database write failed, mid-attempt) knows the
-- previous attempt's outcome is unknown.

-- +goose Up
ALTER TABLE outbox ADD COLUMN in_flight boolean NOT NULL DEFAULT false;

-- The new set of statuses contains the old one, so every existing row
-- satisfies it: NOT VALID skips a scan of every message (and its lock),
-- while inserts and updates are checked from now on.
ALTER TABLE messages DROP CONSTRAINT messages_delivery_status_check,
    ADD CONSTRAINT messages_delivery_status_check
        CHECK (delivery_status IN ('queued', 'sent', 'delivered', 'read', 'failed', 'unconfirmed')) NOT VALID;
ALTER TABLE delivery_events DROP CONSTRAINT delivery_events_status_check,
    ADD CONSTRAINT delivery_events_status_check
        CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed', 'unconfirmed')) NOT VALID;

-- +goose Down
UPDATE messages SET delivery_status = 'failed' WHERE delivery_status = 'unconfirmed';
UPDATE delivery_events SET status = 'failed' WHERE status = 'unconfirmed';
ALTER TABLE delivery_events DROP CONSTRAINT delivery_events_status_check,
    ADD CONSTRAINT delivery_events_status_check
        CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')) NOT VALID;
ALTER TABLE messages DROP CONSTRAINT messages_delivery_status_check,
    ADD CONSTRAINT messages_delivery_status_check
        CHECK (delivery_status IN ('queued', 'sent', 'delivered', 'read', 'failed')) NOT VALID;
ALTER TABLE outbox DROP COLUMN in_flight;
