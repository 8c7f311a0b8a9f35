-- role_scope: role_grants of the roles a least-privilege report covers: third-party roles (third_party_roles), or every role with --all-roles; --role narrows to one
--
-- Adds `status`: used (a session of the role used the action in the window), not-observable
-- (CloudTrail never logs it, or it is a data event and the lake holds no data events from its
-- service) or unused; with the use evidence from role_action_use.
WITH
data_sources AS (
    SELECT DISTINCT event_source
    FROM events_all
    WHERE management_event = false OR event_category = 'Data'
),
used AS (
    SELECT * FROM role_action_use WHERE class = 'used'
),
denied AS (
    SELECT role_arn, action, uses FROM role_action_use WHERE class = 'denied'
)
SELECT
    g.*,
    CASE
        WHEN u.uses IS NOT NULL THEN 'used'
        WHEN g.observability = 'not-logged' THEN 'not-observable'
        WHEN g.observability = 'data-event'
             AND ds.event_source IS NULL
            THEN 'not-observable'
        ELSE 'unused'
    END AS status,
    CASE
        WHEN u.uses IS NOT NULL THEN CAST(NULL AS VARCHAR)
        WHEN g.observability = 'not-logged' THEN 'CloudTrail does not log this action'
        WHEN g.observability = 'data-event'
             AND ds.event_source IS NULL
            THEN concat('a data event; the lake has no data events from ', g.data_event_source)
    END AS why_not_observable,
    coalesce(u.uses, 0) AS uses,
    u.first_seen,
    u.last_seen,
    u.sample_event_ids,
    u.resources_seen,
    u.resources_known,
    coalesce(d.uses, 0) AS denied_attempts
FROM role_grants AS g
CROSS JOIN report_params AS p
LEFT JOIN used AS u
  ON u.role_arn = g.role_arn AND u.action = g.action
LEFT JOIN denied AS d
  ON d.role_arn = g.role_arn AND d.action = g.action
LEFT JOIN data_sources AS ds
  ON ds.event_source = g.data_event_source
WHERE (p.all_roles OR g.role_arn IN (SELECT role_arn FROM third_party_roles))
  AND (p.role IS NULL OR g.role_arn = p.role OR g.role_name = p.role)
