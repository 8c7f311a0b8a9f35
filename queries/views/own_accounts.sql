-- own_accounts: the accounts whose trails were ingested (every recipient_account_id in the lake)
--
-- Used when no list of own accounts is given. A record's recipient account is the account
-- whose trail delivered it, so these are the accounts the lake covers.
SELECT recipient_account_id AS account_id
FROM events_all
WHERE recipient_account_id <> ''
UNION
SELECT recipient_account_id AS account_id
FROM sessions_all
WHERE recipient_account_id <> ''
