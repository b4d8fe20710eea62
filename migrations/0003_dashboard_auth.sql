-- The dashboard's password (argon2id PHC string) and its sign-in sessions.
CREATE TABLE dashboard_auth (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,
    updated_ms    INTEGER NOT NULL
);

-- Only a hash of each session token is kept, so a copy of the database
-- cannot be used to sign in.
CREATE TABLE dashboard_sessions (
    token_hash   TEXT PRIMARY KEY,
    csrf_token   TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    expires_ms   INTEGER NOT NULL
);
