-- role_action_use: per role and IAM action, what its sessions did in the report window: uses that passed authorization, attempts that were denied, when, and the resources named
--
-- An action counts for the role whose session made the call (userIdentity.type AssumedRole,
-- sessionContext.sessionIssuer.arn), through any caller, vendor or not. Events that are not
-- authorization evidence (AWS service events, console sign-in, insights) and calls that need
-- no permission are left out (iam_event_class); a call failing authorization is `denied`; any
-- other error still passed authorization and counts as `used` (DOMAIN.md 2.3). Events with
-- several actions (CopyObject, ReEncrypt, ...) count for each; every resource the event names
-- is attributed to each of its actions. `resources_known` is true when every use named at
-- least one resource. The window is --from/--to when given, else the whole lake.
WITH ev AS (
    SELECT
        e.session_issuer_arn AS role_arn,
        e.event_id,
        e.event_time,
        e.event_source,
        e.resources,
        -- Secrets Manager names its secret only in the request (an ARN, or a name that
        -- cannot be turned into one without its random suffix).
        CASE WHEN e.event_source = 'secretsmanager.amazonaws.com'
             THEN regexp_match(e.request_parameters, '"secretId"\s*:\s*"(arn:[^"]+)"')[1]
        END AS request_arn,
        iam_event_class(e.event_source, e.event_name, e.event_type, e.identity_type,
                        e.error_code, e.request_parameters) AS class,
        iam_actions(e.event_source, e.event_name, e.request_parameters) AS actions
    FROM events AS e
    CROSS JOIN report_params AS p
    WHERE e.identity_type = 'AssumedRole'
      AND e.session_issuer_arn IS NOT NULL
      AND (p.from_time IS NULL OR e.event_time >= p.from_time)
      AND (p.to_time IS NULL OR e.event_time < p.to_time)
),
per_action AS (
    SELECT role_arn, event_id, event_time, class, resources, request_arn, unnest(actions) AS action
    FROM ev
    WHERE class IN ('used', 'denied')
),
res AS (
    SELECT role_arn, action, class, unnest(resources) AS r
    FROM per_action
),
arns AS (
    SELECT role_arn, action, class, r['arn'] AS arn FROM res
    UNION ALL
    SELECT role_arn, action, class, request_arn AS arn FROM per_action WHERE request_arn IS NOT NULL
),
arn_lists AS (
    SELECT role_arn, action, class, array_sort(array_agg(DISTINCT arn)) AS resources_seen
    FROM arns
    WHERE arn IS NOT NULL
    GROUP BY role_arn, action, class
),
counted AS (
    SELECT
        role_arn,
        action,
        class,
        count(*) AS uses,
        min(event_time) AS first_seen,
        max(event_time) AS last_seen,
        array_slice(array_agg(event_id ORDER BY event_time, event_id), 1, 3) AS sample_event_ids,
        bool_and(coalesce(cardinality(resources), 0) > 0 OR request_arn IS NOT NULL) AS resources_known
    FROM per_action
    GROUP BY role_arn, action, class
)
SELECT
    c.role_arn,
    c.action,
    c.class,
    c.uses,
    c.first_seen,
    c.last_seen,
    c.sample_event_ids,
    a.resources_seen,
    c.resources_known
FROM counted AS c
LEFT JOIN arn_lists AS a
  ON a.role_arn = c.role_arn
 AND a.action = c.action
 AND a.class = c.class
