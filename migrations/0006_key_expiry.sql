-- A gateway key may stop working at a set time (milliseconds since the epoch).
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
