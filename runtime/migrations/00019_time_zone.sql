-- A member's time zone, an IANA name such as Europe/Berlin, in which the app
-- shows them times and reads the times they type. NULL: the browser's zone
-- (sent in a cookie), else UTC.

-- +goose Up
ALTER TABLE users ADD COLUMN time_zone text;

-- +goose Down
ALTER TABLE users DROP COLUMN time_zone;
