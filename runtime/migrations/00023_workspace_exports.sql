-- The owner's whole-workspace exports (issue 12): a zip of every table as
-- JSON Lines plus the attachments, built once and kept in the database so
-- that every replica serves the same bytes and a download can resume
-- (HTTP Range) where it stopped. The runtime's filesystem is read-only and
-- its replicas share nothing else.
--
-- An export holds everyone's personal data: it expires (expires_at, swept
-- by the runtime), and erasing a contact or a member deletes every export.

-- +goose Up
CREATE TABLE workspace_exports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status       text NOT NULL DEFAULT 'building' CHECK (status IN ('building', 'ready', 'failed')),
    requested_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The builder touches heartbeat_at while it works; a building export
    -- whose heartbeat stopped (its replica died) is marked failed.
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    ready_at     timestamptz,
    expires_at   timestamptz NOT NULL,
    size         bigint NOT NULL DEFAULT 0,
    -- The size of every chunk but the last (see workspace_export_chunks).
    chunk_size   integer NOT NULL CHECK (chunk_size > 0),
    -- Hex SHA-256 of the zip: the download's ETag.
    sha256       text NOT NULL DEFAULT '',
    -- Rows exported per table.
    counts       jsonb NOT NULL DEFAULT '{}',
    -- Why it failed, as a stable code (never data): 'build', 'abandoned'.
    error_code   text NOT NULL DEFAULT '',
    CHECK ((status = 'ready') = (ready_at IS NOT NULL))
);
-- One export is built at a time in a workspace, whichever replica builds it.
CREATE UNIQUE INDEX workspace_exports_one_building_idx ON workspace_exports ((true)) WHERE status = 'building';
CREATE INDEX workspace_exports_list_idx ON workspace_exports (created_at DESC, id DESC);
CREATE INDEX workspace_exports_expires_idx ON workspace_exports (expires_at);
CREATE INDEX workspace_exports_requested_by_idx ON workspace_exports (requested_by) WHERE requested_by IS NOT NULL;

-- The zip, in chunks of the export's chunk_size (the last one shorter),
-- numbered from 0: byte offset o is in chunk o / chunk_size, so a range
-- read fetches only the chunks it covers. Each chunk is written in a
-- transaction of its own as the zip streams out of the builder.
CREATE TABLE workspace_export_chunks (
    export_id bigint NOT NULL REFERENCES workspace_exports (id) ON DELETE CASCADE,
    n         integer NOT NULL CHECK (n >= 0),
    data      bytea NOT NULL,
    PRIMARY KEY (export_id, n)
);

-- +goose Down
DROP TABLE workspace_export_chunks;
DROP TABLE workspace_exports;
