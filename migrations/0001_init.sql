-- 0001: the first schema. Times are Unix milliseconds.

-- User-defined providers, in addition to the built-in catalog.
CREATE TABLE providers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    format      TEXT NOT NULL,
    base_url    TEXT NOT NULL,
    prefix      TEXT NOT NULL UNIQUE,
    auth        TEXT NOT NULL DEFAULT 'bearer',
    models      TEXT NOT NULL DEFAULT '[]',   -- JSON array of {id, input, output, ...} objects
    source      TEXT NOT NULL DEFAULT 'api',  -- 'api' or 'config'
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Credentials for one provider account. The key is AES-256-GCM encrypted.
CREATE TABLE connections (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    name        TEXT NOT NULL,
    secret      BLOB,                         -- nonce || ciphertext, NULL when no key
    api_key_env TEXT,                         -- read the key from this env var instead
    base_url    TEXT,                         -- overrides the provider's base URL
    priority    INTEGER NOT NULL DEFAULT 1,
    enabled     INTEGER NOT NULL DEFAULT 1,
    source      TEXT NOT NULL DEFAULT 'api',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (provider, name)
);

-- Named fallback chains of models.
CREATE TABLE combos (
    name        TEXT PRIMARY KEY,
    strategy    TEXT NOT NULL,
    models      TEXT NOT NULL,                -- JSON array of model strings
    enabled     INTEGER NOT NULL DEFAULT 1,
    source      TEXT NOT NULL DEFAULT 'api',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Gateway API keys. Only a SHA-256 of the key is kept; the key is shown once.
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    key_hash      TEXT NOT NULL UNIQUE,
    key_preview   TEXT NOT NULL,
    models        TEXT NOT NULL DEFAULT '["*"]',
    source        TEXT NOT NULL DEFAULT 'api',
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    last_used_at  INTEGER,
    request_count INTEGER NOT NULL DEFAULT 0
);

-- Key/value settings; values are JSON.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per data-plane request.
CREATE TABLE usage (
    id               INTEGER PRIMARY KEY,
    ts               INTEGER NOT NULL,
    api_key_id       INTEGER,
    inbound_format   TEXT NOT NULL,
    requested_model  TEXT NOT NULL,
    provider         TEXT,
    connection_id    INTEGER,
    upstream_model   TEXT,
    stream           INTEGER NOT NULL DEFAULT 0,
    input_tokens     INTEGER NOT NULL DEFAULT 0,
    output_tokens    INTEGER NOT NULL DEFAULT 0,
    cached_tokens    INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    cost             REAL NOT NULL DEFAULT 0,
    latency_ms       INTEGER NOT NULL DEFAULT 0,
    ttft_ms          INTEGER,
    status           INTEGER NOT NULL,
    error            TEXT
);
CREATE INDEX usage_ts ON usage (ts);
CREATE INDEX usage_model_ts ON usage (requested_model, ts);
CREATE INDEX usage_provider_ts ON usage (provider, ts);
