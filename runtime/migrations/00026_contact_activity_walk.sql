-- Sorting the contacts page by last activity computed every contact's
-- newest message and sorted them all: 1 to 2.7 s a page at 120,000
-- contacts. The page now walks conversations in last_message_at order and
-- keeps each contact's newest one, which takes one probe of
-- conversations_contact_activity_idx per conversation read
-- (store.listContactsByActivity). It replaces the index on contact_id
-- alone, whose lookups it serves as well.
--
-- Filtering contacts by tag read every contact, in any order; the tags now
-- have a GIN index, as conversations' do. Contacts are written by people
-- (edits, merges, imports), never per message, so it costs ingest nothing.

-- +goose Up
CREATE INDEX conversations_contact_activity_idx ON conversations (contact_id, last_message_at, id);
DROP INDEX conversations_contact_idx;
CREATE INDEX contacts_tags_idx ON contacts USING gin (tags);

-- +goose Down
DROP INDEX contacts_tags_idx;
CREATE INDEX conversations_contact_idx ON conversations (contact_id);
DROP INDEX conversations_contact_activity_idx;
