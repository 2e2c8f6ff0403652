-- What retention (runtime/privacy/retention) needs of the existing tables:
-- marks of anonymised rows and the keyed hashes that replace their links to
-- people, the activity of a contact's conversations once they are gone, and
-- the indexes its batches walk.

-- +goose Up

-- An anonymised conversation keeps its shape (channel, status, times,
-- assignment) and loses its person: contact_id is cleared and contact_key
-- holds a keyed hash of it. The inbox lists conversations joined to their
-- contact, so an anonymised one is no longer shown.
ALTER TABLE conversations
    ALTER COLUMN contact_id DROP NOT NULL,
    ADD COLUMN contact_key bytea,
    ADD COLUMN anonymized_at timestamptz;

-- purged_activity_at is the latest activity of the contact's conversations
-- that retention deleted or anonymised, so that a contact whose old
-- conversations are gone is not taken for one who was never active.
ALTER TABLE contacts
    ADD COLUMN purged_activity_at timestamptz,
    ADD COLUMN anonymized_at timestamptz;

ALTER TABLE audit_log
    ADD COLUMN actor_key bytea,
    ADD COLUMN anonymized_at timestamptz;

-- Retention walks delivery events by time, and deleting a message looks up
-- its queued deliveries (the foreign key's cascade).
CREATE INDEX delivery_events_at_idx ON delivery_events (at);
-- Anonymisation walks only the rows it has still to do: few delivery events
-- carry a detail, and usage and audit rows are anonymised oldest first.
CREATE INDEX delivery_events_detail_idx ON delivery_events (at, id) WHERE detail <> '';
CREATE INDEX usage_events_pending_idx ON usage_events (at, id) WHERE anonymized_at IS NULL;
CREATE INDEX audit_log_pending_idx ON audit_log (at, id) WHERE anonymized_at IS NULL;
CREATE INDEX outbox_message_idx ON outbox (message_id) WHERE message_id IS NOT NULL;

-- +goose Down
DROP INDEX audit_log_pending_idx;
DROP INDEX usage_events_pending_idx;
DROP INDEX delivery_events_detail_idx;
DROP INDEX outbox_message_idx;
DROP INDEX delivery_events_at_idx;
ALTER TABLE audit_log DROP COLUMN anonymized_at, DROP COLUMN actor_key;
ALTER TABLE contacts DROP COLUMN anonymized_at, DROP COLUMN purged_activity_at;
DELETE FROM conversations WHERE contact_id IS NULL;
ALTER TABLE conversations DROP COLUMN anonymized_at, DROP COLUMN contact_key, ALTER COLUMN contact_id SET NOT NULL;
