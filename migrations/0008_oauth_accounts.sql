-- OAuth accounts: `credential` says what the sealed `secret` holds (`api_key`,
-- or `oauth`: the JSON token set), and `account_email` names the account so
-- that one provider can hold several and a new sign-in finds its old row.
ALTER TABLE connections ADD COLUMN credential TEXT NOT NULL DEFAULT 'api_key';
ALTER TABLE connections ADD COLUMN account_email TEXT;
