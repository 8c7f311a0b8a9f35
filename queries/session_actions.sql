-- session_actions: the actions done with each assumed-role session's temporary access key
--
-- One row per (session, action): a successful AssumeRole* hands out a temporary access key, and
-- every event signed with that key (events.access_key_id) is an action of the session, whatever
-- file or day it was logged in.
--
-- A cross-account AssumeRole is logged in both the caller's and the role's account: two session
-- rows with the same temporary key. Keep one row per key, preferring the role account's copy,
-- so that no action is counted twice.
WITH issued_keys AS (
    SELECT *
    FROM sessions
    WHERE COALESCE(error_code, '') = ''
      AND temp_access_key_id <> ''
),
ranked_copies AS (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY temp_access_key_id
            ORDER BY
                CASE WHEN recipient_account_id = role_account_id THEN 0 ELSE 1 END,
                event_time,
                event_id,
                source_object
        ) AS copy_rank
    FROM issued_keys
),
one_session_per_key AS (
    SELECT *
    FROM ranked_copies
    WHERE copy_rank = 1
)
SELECT
    -- the session
    s.event_id           AS session_event_id,
    s.role_arn,
    s.role_session_name,
    s.caller_account_id,
    s.caller_arn,
    s.temp_access_key_id,
    s.event_time         AS session_start,
    s.expires_at,
    -- the action
    e.event_id,
    e.event_time,
    e.event_source,
    e.event_name,
    e.aws_region,
    e.source_ip,
    e.user_agent,
    e.error_code,
    e.error_message,
    e.resources,
    e.request_parameters,
    e.read_only,
    e.event_date
FROM one_session_per_key AS s
JOIN events AS e
  ON e.access_key_id = s.temp_access_key_id
