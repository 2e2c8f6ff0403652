-- The CRM's dead ends (issue 11): a deal may have no value yet, contacts
-- are compared by a normalised name to suggest duplicates, and the contacts
-- list sorts by name and by creation without reading the whole table.

-- +goose Up
-- A deal without a value is not a deal worth 0: value_minor is NULL until
-- someone knows it. Deals stored before had 0 for "not given", as the forms
-- sent an empty field as 0.
ALTER TABLE deals ALTER COLUMN value_minor DROP NOT NULL, ALTER COLUMN value_minor DROP DEFAULT;
UPDATE deals SET value_minor = NULL WHERE value_minor = 0;
CREATE INDEX deals_company_idx ON deals (company_id);

-- name_key is the name as duplicates are looked for: lower case, without
-- parenthesised or bracketed remarks ("Priya Shah (updated)"), digits,
-- punctuation and repeated spaces. A name of digits only (a phone number
-- taken as a name) has an empty key, and is never a name duplicate.
ALTER TABLE contacts ADD COLUMN name_key text GENERATED ALWAYS AS (
    btrim(regexp_replace(lower(regexp_replace(name, '\([^)]*\)?|\[[^]]*\]?', ' ', 'g')), '[[:space:][:punct:][:digit:]]+', ' ', 'g'))
) STORED;
CREATE INDEX contacts_name_sort_idx ON contacts (lower(name), id);
CREATE INDEX contacts_created_idx ON contacts (created_at, id);

-- +goose Down
DROP INDEX contacts_created_idx;
DROP INDEX contacts_name_sort_idx;
ALTER TABLE contacts DROP COLUMN name_key;
DROP INDEX deals_company_idx;
UPDATE deals SET value_minor = 0 WHERE value_minor IS NULL;
ALTER TABLE deals ALTER COLUMN value_minor SET DEFAULT 0, ALTER COLUMN value_minor SET NOT NULL;
