-- Sorting the contacts page by email, company or last activity read every
-- contact (the company's name is in another table, the last activity an
-- aggregate over conversations): 0.2 to 1 s a page at 120,000 contacts.
-- Each order now has an index on (sort key, id), the keyset the page uses:
--
--   - email: an expression index on the first address;
--   - company: contacts.company_sort, the company's name in lower case
--     ('' without one), kept by triggers on contacts and companies;
--   - activity: contacts.last_activity_at, the latest last_message_at of
--     the contact's conversations (NULL without one), kept by triggers on
--     conversations.
--
-- Both columns are derived: nothing writes them but these triggers.

-- +goose Up
ALTER TABLE contacts ADD COLUMN company_sort text NOT NULL DEFAULT '',
    ADD COLUMN last_activity_at timestamptz;

UPDATE contacts c SET company_sort = lower(co.name) FROM companies co WHERE co.id = c.company_id;
UPDATE contacts c SET last_activity_at = x.at
    FROM (SELECT contact_id, max(last_message_at) AS at FROM conversations WHERE contact_id IS NOT NULL GROUP BY contact_id) x
    WHERE c.id = x.contact_id;

-- +goose StatementBegin
CREATE FUNCTION contacts_company_sort() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.company_sort := coalesce((SELECT lower(name) FROM companies WHERE id = NEW.company_id), '');
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER contacts_company_sort BEFORE INSERT OR UPDATE OF company_id ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_company_sort();

-- +goose StatementBegin
CREATE FUNCTION companies_rename_sort() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- In id order, as the activity triggers lock contacts.
    PERFORM 1 FROM contacts WHERE company_id = NEW.id ORDER BY id FOR UPDATE;
    UPDATE contacts SET company_sort = lower(NEW.name) WHERE company_id = NEW.id AND company_sort IS DISTINCT FROM lower(NEW.name);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER companies_rename_sort AFTER UPDATE OF name ON companies
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION companies_rename_sort();

-- A conversation inserted, or updated to a later last_message_at, raises
-- its contact's last activity from the rows of the statement alone (no
-- read of conversations: a bulk load or a restore does not read the table
-- once per contact). A conversation deleted, moved to another contact (a
-- merge) or set back makes its old contact's be computed again. The
-- triggers are per statement and lock every contact they write in id order
-- first: a batch ingest updates many conversations in one statement, and
-- two of them locking shared contacts in different orders would deadlock.
-- +goose StatementBegin
CREATE FUNCTION contacts_last_activity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    raised bigint[];
    recompute bigint[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT array_agg(DISTINCT n.contact_id) INTO raised FROM new_rows n JOIN contacts c ON c.id = n.contact_id
            WHERE c.last_activity_at IS NULL OR c.last_activity_at < n.last_message_at;
    END IF;
    IF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT contact_id) INTO recompute FROM old_rows WHERE contact_id IS NOT NULL;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(DISTINCT o.contact_id) INTO recompute FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE o.contact_id IS NOT NULL AND (n.contact_id IS DISTINCT FROM o.contact_id OR n.last_message_at < o.last_message_at);
    END IF;
    IF raised IS NULL AND recompute IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM contacts WHERE id = ANY (coalesce(raised, '{}') || coalesce(recompute, '{}')) ORDER BY id FOR UPDATE;
    IF raised IS NOT NULL THEN
        UPDATE contacts c SET last_activity_at = n.at
            FROM (SELECT contact_id, max(last_message_at) AS at FROM new_rows WHERE contact_id = ANY (raised) GROUP BY contact_id) n
            WHERE c.id = n.contact_id AND (c.last_activity_at IS NULL OR c.last_activity_at < n.at);
    END IF;
    IF recompute IS NOT NULL THEN
        UPDATE contacts c SET last_activity_at = x.at
            FROM (SELECT i AS id, (SELECT max(v.last_message_at) FROM conversations v WHERE v.contact_id = i) AS at
                FROM unnest(recompute) i) x
            WHERE c.id = x.id AND c.last_activity_at IS DISTINCT FROM x.at;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER conversations_activity_insert AFTER INSERT ON conversations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_last_activity();
CREATE TRIGGER conversations_activity_update AFTER UPDATE ON conversations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_last_activity();
CREATE TRIGGER conversations_activity_delete AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_last_activity();

CREATE INDEX contacts_email_sort_idx ON contacts ((coalesce(emails[1], '')), id);
CREATE INDEX contacts_company_sort_idx ON contacts (company_sort, id);
CREATE INDEX contacts_activity_sort_idx ON contacts ((coalesce(last_activity_at, '-infinity'::timestamptz)), id);

-- +goose Down
DROP INDEX contacts_activity_sort_idx, contacts_company_sort_idx, contacts_email_sort_idx;
DROP TRIGGER conversations_activity_delete ON conversations;
DROP TRIGGER conversations_activity_update ON conversations;
DROP TRIGGER conversations_activity_insert ON conversations;
DROP TRIGGER companies_rename_sort ON companies;
DROP TRIGGER contacts_company_sort ON contacts;
DROP FUNCTION contacts_last_activity(), companies_rename_sort(), contacts_company_sort();
ALTER TABLE contacts DROP COLUMN last_activity_at, DROP COLUMN company_sort;
