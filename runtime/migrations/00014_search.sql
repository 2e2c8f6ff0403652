-- Search by the start of any word: of a contact's name, email addresses and
-- phone numbers, of a conversation's subject (trigram indexes, read with
-- word-start regular expressions), and of message text (the existing
-- full-text index, read with prefix queries, 'hopp':*).
--
-- pg_trgm is a trusted extension (PostgreSQL 13 and later): the workspace's
-- role, which owns its database but is no superuser, may create it, and so
-- may a restore run with --role of that owner.

-- +goose Up
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- What a contact is found by, in one lowercase text: name, emails and
-- phones, separated by spaces. array_to_string is only STABLE (it calls the
-- element type's output function); for text[] its result depends on nothing
-- but the input, so the wrapper can be IMMUTABLE and indexed.
CREATE FUNCTION contact_search_text(name text, emails text[], phones text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN lower(name || ' ' || array_to_string(emails, ' ') || ' ' || array_to_string(phones, ' '));

CREATE INDEX contacts_search_idx ON contacts USING gin (contact_search_text(name, emails, phones) gin_trgm_ops);
CREATE INDEX conversations_subject_idx ON conversations USING gin (lower(subject) gin_trgm_ops);

-- +goose Down
DROP INDEX conversations_subject_idx;
DROP INDEX contacts_search_idx;
DROP FUNCTION contact_search_text(text, text[], text[]);
DROP EXTENSION IF EXISTS pg_trgm;
