-- 0002: routing. Account states that survive restarts, per-connection tier,
-- proxy and quota windows, combo options, and how each request was served.

-- NULL while usable; otherwise a terminal state the user must clear:
-- 'auth_failed', 'revoked', 'banned' or 'out_of_credits'.
ALTER TABLE connections ADD COLUMN state TEXT;
ALTER TABLE connections ADD COLUMN state_reason TEXT;
ALTER TABLE connections ADD COLUMN state_at INTEGER;
-- Overrides the provider's tier ('subscription', 'api-key', 'cheap', 'free', 'local').
ALTER TABLE connections ADD COLUMN tier TEXT;
-- Outbound proxy for this account (http://, https://, socks5://, socks5h://).
ALTER TABLE connections ADD COLUMN proxy TEXT;
-- JSON array of quota windows: [{"window": "5h"|"daily"|"weekly"|"monthly",
-- "reset_hour": 0-23, "requests": n, "tokens": n}].
ALTER TABLE connections ADD COLUMN quota TEXT NOT NULL DEFAULT '[]';

-- Round-robin: how many requests in a row go to the same model.
ALTER TABLE combos ADD COLUMN sticky INTEGER NOT NULL DEFAULT 1;

-- JSON array of the candidates tried before the one that answered, and why
-- each failed: [{"provider", "model", "connection_id", "status", "error"}].
ALTER TABLE usage ADD COLUMN hops TEXT NOT NULL DEFAULT '[]';
-- NULL when an upstream served the request; 'cache', 'replay' (repeated
-- Idempotency-Key) or 'shared' (joined an identical request in flight).
ALTER TABLE usage ADD COLUMN served_from TEXT;
-- The fallback tier of the connection that served the request.
ALTER TABLE usage ADD COLUMN tier TEXT;
CREATE INDEX usage_connection_ts ON usage (connection_id, ts);
