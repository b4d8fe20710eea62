-- Per-key request limits (per minute / day / month) and USD budgets (per day /
-- month), as a JSON object; `{}` is a key without limits.
ALTER TABLE api_keys ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
