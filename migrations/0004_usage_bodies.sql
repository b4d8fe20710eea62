-- Request and response bodies of data-plane requests, kept only while the
-- `log_bodies` setting is on, for the newest 1,000 usage rows (debugging).
-- A usage row pruned for age takes its bodies with it.
CREATE TABLE usage_bodies (
    usage_id INTEGER PRIMARY KEY REFERENCES usage (id) ON DELETE CASCADE,
    request  TEXT,
    response TEXT
);
