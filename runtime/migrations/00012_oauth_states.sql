-- OAuth connections that tenant admins start from the settings page (a
-- Microsoft 365 mailbox): the state sent to the provider's authorize
-- endpoint, kept as its hash, and the PKCE code verifier, kept server-side
-- and never in the browser. A row is single use and short-lived: the
-- callback takes it only from the session and member that started it,
-- before expires_at, and sets used_at and clears the verifier as it does.
-- Used rows stay as the record that the audit log's integration.connected
-- entries name, until retention removes them (sessions category); unused
-- ones are removed when they lapse.

-- +goose Up
CREATE TABLE oauth_states (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state_hash    bytea NOT NULL UNIQUE,
    session_hash  bytea NOT NULL,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    integration   text NOT NULL,
    code_verifier text NOT NULL,
    redirect_uri  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX oauth_states_user_idx ON oauth_states (user_id);
CREATE INDEX oauth_states_lapse_idx ON oauth_states (expires_at) WHERE used_at IS NULL;

-- +goose Down
DROP TABLE oauth_states;
