-- Postal addresses of contacts and companies: one line of text, typed or
-- picked from Google Places suggestions (its formattedAddress). Only the
-- text is kept, not the place: it is the workspace's record, and stays
-- right when Google's changes.

-- +goose Up
ALTER TABLE contacts ADD COLUMN address text NOT NULL DEFAULT '';
ALTER TABLE companies ADD COLUMN address text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE companies DROP COLUMN address;
ALTER TABLE contacts DROP COLUMN address;
