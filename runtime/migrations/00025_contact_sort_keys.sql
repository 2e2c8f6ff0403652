-- Sorting the contacts page by email or company read every contact (the
-- company's name is in another table): 0.1 to 0.3 s a page at 120,000
-- contacts. Each now has an index on (sort key, id), the keyset the page
-- uses:
--
--   - email: an expression index on the first address;
--   - company: contacts.company_sort, the company's name in lower case
--     ('' without one), kept by triggers on contacts and companies. It is
--     derived: nothing else writes it.
--
-- Sorting by last activity is not indexed: keeping a contact's last
-- activity on the contact (tried, with triggers on conversations) cost
-- every inbound message a write of the contact row, 60 to 135 µs more
-- PostgreSQL CPU per message (17 to 37 %) in bench/runtime's ingest.

-- +goose Up
ALTER TABLE contacts ADD COLUMN company_sort text NOT NULL DEFAULT '';

UPDATE contacts c SET company_sort = lower(co.name) FROM companies co WHERE co.id = c.company_id;

-- +goose StatementBegin
CREATE FUNCTION contacts_company_sort() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.company_id IS NULL THEN
        NEW.company_sort := '';
    ELSE
        NEW.company_sort := coalesce((SELECT lower(name) FROM companies WHERE id = NEW.company_id), '');
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER contacts_company_sort BEFORE INSERT OR UPDATE OF company_id ON contacts
    FOR EACH ROW EXECUTE FUNCTION contacts_company_sort();

-- +goose StatementBegin
CREATE FUNCTION companies_rename_sort() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- In id order, as other writers of many contacts lock them.
    PERFORM 1 FROM contacts WHERE company_id = NEW.id ORDER BY id FOR UPDATE;
    UPDATE contacts SET company_sort = lower(NEW.name) WHERE company_id = NEW.id AND company_sort IS DISTINCT FROM lower(NEW.name);
    RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER companies_rename_sort AFTER UPDATE OF name ON companies
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION companies_rename_sort();

CREATE INDEX contacts_email_sort_idx ON contacts ((coalesce(emails[1], '')), id);
CREATE INDEX contacts_company_sort_idx ON contacts (company_sort, id);

-- +goose Down
DROP INDEX contacts_company_sort_idx, contacts_email_sort_idx;
DROP TRIGGER companies_rename_sort ON companies;
DROP TRIGGER contacts_company_sort ON contacts;
DROP FUNCTION companies_rename_sort(), contacts_company_sort();
ALTER TABLE contacts DROP COLUMN company_sort;
