-- Sorting the contacts page by email, company or last activity read every
-- contact (the company's name is in another table, the last activity an
-- aggregate over conversations): 0.2 to 1 s a page at 120,000 contacts.
-- Each order now has an index on (sort key, id), the keyset the page uses:
--
--   - email: an expression index on the first address;
--   - company: contacts.company_sort, the company's name in lower case
--     ('' without one), kept by triggers on contacts and companies;
--   - activity: contacts.last_activity_at, the latest last_message_at of
--     the contact's conversations (NULL without one), kept by a trigger on
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
    UPDATE contacts SET company_sort = lower(NEW.name) WHERE company_id = NEW.id AND company_sort IS DISTINCT FROM lower(NEW.name);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER companies_rename_sort AFTER UPDATE OF name ON companies
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION companies_rename_sort();

-- A conversation's newer message raises its contact's last activity; a
-- conversation deleted, moved to another contact (a merge) or set back
-- makes the old contact's be computed again.
-- +goose StatementBegin
CREATE FUNCTION contacts_last_activity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' AND NEW.contact_id IS NOT NULL THEN
        UPDATE contacts SET last_activity_at = NEW.last_message_at
            WHERE id = NEW.contact_id AND (last_activity_at IS NULL OR last_activity_at < NEW.last_message_at);
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.contact_id IS NOT NULL
            AND (TG_OP = 'DELETE' OR OLD.contact_id IS DISTINCT FROM NEW.contact_id OR NEW.last_message_at < OLD.last_message_at) THEN
        UPDATE contacts SET last_activity_at = (SELECT max(last_message_at) FROM conversations WHERE contact_id = OLD.contact_id)
            WHERE id = OLD.contact_id;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER conversations_contact_activity AFTER INSERT OR DELETE OR UPDATE OF contact_id, last_message_at ON conversations
    FOR EACH ROW EXECUTE FUNCTION contacts_last_activity();

CREATE INDEX contacts_email_sort_idx ON contacts ((coalesce(emails[1], '')), id);
CREATE INDEX contacts_company_sort_idx ON contacts (company_sort, id);
CREATE INDEX contacts_activity_sort_idx ON contacts ((coalesce(last_activity_at, '-infinity'::timestamptz)), id);

-- +goose Down
DROP INDEX contacts_activity_sort_idx, contacts_company_sort_idx, contacts_email_sort_idx;
DROP TRIGGER conversations_contact_activity ON conversations;
DROP TRIGGER companies_rename_sort ON companies;
DROP TRIGGER contacts_company_sort ON contacts;
DROP FUNCTION contacts_last_activity(), companies_rename_sort(), contacts_company_sort();
ALTER TABLE contacts DROP COLUMN last_activity_at, DROP COLUMN company_sort;
