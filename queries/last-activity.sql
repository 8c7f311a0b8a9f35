-- last-activity: per third-party role: last AssumeRole, last action and its service, days since, and status active / inactive / never-used, within the time span the lake covers
--
-- A third-party role is one a third party may assume (trust_reach, from the latest IAM
-- snapshot, role chains included) or did assume (third_party_activity). Days are counted up
-- to the lake's last event, not to today, so the same lake always gives the same answer, and
-- every row states the span the lake covers (lake_first_event, lake_last_event): "never-used"
-- means no session in that span, nothing more.
--   active      used less than report_params.inactive_days (--inactive-days, default 90)
--               before the lake's last event
--   inactive    last used that many days or more before it
--   never-used  trusted in the IAM snapshot, no session in the lake
-- iam_last_used is IAM's own RoleLastUsed from the snapshot, when it has one (it covers any
-- caller, not only third parties).
WITH
span AS (
    SELECT min(event_time) AS lake_first, max(event_time) AS lake_last FROM events_all
),
trusted AS (
    SELECT
        role_arn,
        max(account_id) AS account_id,
        array_agg(DISTINCT party) AS parties
    FROM trust_reach
    WHERE third_party
    GROUP BY role_arn
),
used AS (
    SELECT
        role_arn,
        max(role_account_id) AS account_id,
        array_agg(DISTINCT party) AS parties,
        count(DISTINCT session_key) AS sessions,
        max(session_start) FILTER (WHERE start_seen) AS last_assume_role,
        max(event_time) AS last_action,
        first_value(event_source ORDER BY event_time DESC NULLS LAST, event_id DESC)
            AS last_action_service,
        first_value(event_name ORDER BY event_time DESC NULLS LAST, event_id DESC)
            AS last_action_event
    FROM third_party_activity
    WHERE session_error_code IS NULL
    GROUP BY role_arn
),
role_list AS (
    SELECT role_arn FROM trusted
    UNION
    SELECT role_arn FROM used
),
iam AS (
    SELECT role_arn, max(last_used_at) AS last_used_at
    FROM roles
    GROUP BY role_arn
),
rows AS (
    SELECT
        coalesce(u.account_id, t.account_id) AS account_id,
        regexp_replace(r.role_arn, '^.*/', '') AS role_name,
        r.role_arn,
        array_to_string(array_sort(array_distinct(array_concat(t.parties, u.parties))), ', ')
            AS third_parties,
        coalesce(u.sessions, 0) AS sessions,
        u.last_assume_role,
        u.last_action,
        u.last_action_service,
        u.last_action_event,
        greatest(u.last_assume_role, u.last_action) AS last_used,
        CAST(floor(
            (date_part('epoch', s.lake_last)
                - date_part('epoch', greatest(u.last_assume_role, u.last_action))) / 86400
        ) AS BIGINT) AS days_since,
        CASE
            WHEN u.role_arn IS NULL THEN 'never-used'
            WHEN date_part('epoch', s.lake_last)
                    - date_part('epoch', greatest(u.last_assume_role, u.last_action))
                 >= p.inactive_days * 86400
                THEN 'inactive'
            ELSE 'active'
        END AS status,
        p.inactive_days AS inactive_after_days,
        s.lake_first AS lake_first_event,
        s.lake_last AS lake_last_event,
        i.last_used_at AS iam_last_used,
        CASE
            WHEN t.role_arn IS NULL AND (SELECT count(*) FROM role_trust) > 0
                THEN 'assumed by a third party, but no trust policy of the IAM snapshot names one'
            ELSE ''
        END AS note
    FROM role_list AS r
    CROSS JOIN span AS s
    CROSS JOIN report_params AS p
    LEFT JOIN trusted AS t ON t.role_arn = r.role_arn
    LEFT JOIN used AS u ON u.role_arn = r.role_arn
    LEFT JOIN iam AS i ON i.role_arn = r.role_arn
),
notes AS (
    SELECT 'no IAM snapshot in the lake (crosstrail ingest --iam): roles third parties may assume but never used cannot be listed' AS note
    WHERE (SELECT count(*) FROM role_trust) = 0
    UNION ALL
    SELECT note FROM input_notes
)
SELECT * FROM rows
UNION ALL
SELECT
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    s.lake_first, s.lake_last, NULL, n.note
FROM notes AS n
CROSS JOIN span AS s
ORDER BY role_arn NULLS LAST, note
