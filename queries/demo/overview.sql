-- name: demo-overview: third-party sessions per role, with their last activity
--
-- A third party here is a caller account outside own_accounts that assumed one of our roles.
-- `vendors` comes from the generator's vendor list (known_aws_accounts format).
WITH lake_span AS (
    SELECT max(event_time) AS lake_end FROM events_all
),
third_party AS (
    SELECT *
    FROM sessions
    WHERE caller_account_id IS NOT NULL
      AND caller_account_id NOT IN (SELECT account_id FROM own_accounts)
),
actions AS (
    SELECT
        temp_access_key_id,
        count(*) AS actions,
        count(error_code) AS errors,
        max(event_time) AS last_action
    FROM session_actions
    GROUP BY temp_access_key_id
)
SELECT
    coalesce(v.name, 'unknown') AS third_party,
    t.caller_account_id AS account,
    t.role_arn,
    count(*) AS sessions,
    count(t.error_code) AS failed_assumes,
    coalesce(sum(a.actions), 0) AS actions,
    coalesce(sum(a.errors), 0) AS denied_or_failed,
    bool_and(t.external_id_present) AS always_external_id,
    max(t.event_time) AS last_assume_role,
    max(a.last_action) AS last_action,
    CAST(floor(
        (date_part('epoch', max(l.lake_end)) - date_part('epoch', coalesce(max(a.last_action), max(t.event_time)))) / 86400
    ) AS BIGINT) AS days_idle
FROM third_party t
CROSS JOIN lake_span l
LEFT JOIN actions a ON a.temp_access_key_id = t.temp_access_key_id
LEFT JOIN vendors v ON v.account_id = t.caller_account_id
GROUP BY 1, 2, 3
ORDER BY last_action DESC NULLS LAST, role_arn
