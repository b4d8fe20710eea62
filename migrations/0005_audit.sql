-- Every configuration change made through the management API: who, when,
-- from where, what. Secrets are redacted before a row is written. Only the
-- newest 10,000 rows are kept.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    ts_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    ip      TEXT,
    method  TEXT NOT NULL,
    path    TEXT NOT NULL,
    status  INTEGER NOT NULL,
    summary TEXT NOT NULL,
    changes TEXT
);
