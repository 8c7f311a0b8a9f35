-- role_trust: the latest IAM snapshot of every account (role_trust_all keeps every snapshot)
--
-- Snapshot ids sort by time (`YYYYMMDDTHHMMSSZ` of the ingest that loaded them); an account's
-- rows come from its newest snapshot only, so a role deleted since an older snapshot is gone.
WITH latest AS (
    SELECT account_id, max(snapshot) AS snapshot
    FROM role_trust_all
    GROUP BY account_id
)
SELECT t.*
FROM role_trust_all AS t
JOIN latest AS l
  ON t.account_id = l.account_id
 AND t.snapshot = l.snapshot
