-- third-parties: one row per third party: roles it may assume, roles it did assume, sessions, actions, errors, first/last seen, source IPs, user agents
--
-- A third party is a vendor, an unknown account, an external identity provider or the public
-- (party_classes). "May assume" comes from the latest IAM snapshot (trust_reach: directly or
-- through a role chain); "assumed" from the lake (session_chains: chained sessions count for
-- the third party at the root of the chain). Roles are written `<account>:<role name>`;
-- trust_conditions gives, per role, the condition keys that narrow the grant (for a role
-- reached through a chain, those of the last hop).
-- `sessions` counts the sessions that started in the lake, chained ones included
-- (chained_sessions); `sessions_start_not_seen` those known only from their actions;
-- failed_assume_role the refused AssumeRole calls logged (a refused chained call is also an
-- error of the session that made it). Sessions whose start is not in the lake and whose role no trust
-- policy names (no IAM snapshot) get one row, party_class 'unattributed'.
-- The last rows (party empty) say what the output cannot know: the lake's time span, and the
-- inputs that were not given.
WITH
trusted AS (
    SELECT
        party,
        max(party_class) AS party_class,
        array_agg(DISTINCT party_account_id) AS accounts,
        max(vendor_source) AS vendor_source,
        array_to_string(
            array_sort(array_agg(DISTINCT concat(account_id, ':', role_name))), ', '
        ) AS roles_may_assume,
        array_to_string(
            array_sort(array_agg(DISTINCT concat(
                account_id, ':', role_name, ' ',
                CASE WHEN narrowed_by = '' THEN 'no condition' ELSE narrowed_by END
            ))),
            '; '
        ) AS trust_conditions
    FROM trust_reach
    WHERE third_party
    GROUP BY party
),
seen AS (
    SELECT
        coalesce(party, '(start not seen, role not in an IAM snapshot)') AS party,
        max(party_class) AS party_class,
        array_agg(DISTINCT root_caller_account_id) AS accounts,
        max(vendor_source) AS vendor_source,
        array_to_string(
            array_sort(array_agg(DISTINCT concat(role_account_id, ':', role_name))
                FILTER (WHERE error_code IS NULL)),
            ', '
        ) AS roles_assumed,
        count(*) FILTER (WHERE error_code IS NULL AND start_seen) AS sessions,
        count(*) FILTER (WHERE error_code IS NULL AND depth > 0) AS chained_sessions,
        count(*) FILTER (WHERE NOT start_seen) AS sessions_start_not_seen,
        count(*) FILTER (WHERE error_code IS NOT NULL) AS failed_assume_role,
        min(session_start) AS first_session,
        max(session_start) AS last_session,
        array_agg(DISTINCT source_ip) AS source_ips,
        array_agg(DISTINCT user_agent) AS user_agents
    FROM session_chains
    WHERE third_party
       OR party_class = 'unattributed'
    GROUP BY 1
),
acted AS (
    SELECT
        party,
        count(*) AS actions,
        count(error_code) AS errors,
        min(event_time) AS first_action,
        max(event_time) AS last_action,
        array_agg(DISTINCT source_ip) AS source_ips,
        array_agg(DISTINCT user_agent) AS user_agents
    FROM third_party_actions
    GROUP BY party
),
parties AS (
    SELECT party FROM trusted
    UNION
    SELECT party FROM seen
),
rows AS (
    SELECT
        p.party,
        coalesce(s.party_class, t.party_class) AS party_class,
        array_to_string(array_sort(array_distinct(array_concat(s.accounts, t.accounts))), ', ')
            AS accounts,
        coalesce(s.vendor_source, t.vendor_source) AS vendor_source,
        t.roles_may_assume,
        t.trust_conditions,
        s.roles_assumed,
        coalesce(s.sessions, 0) AS sessions,
        coalesce(s.chained_sessions, 0) AS chained_sessions,
        coalesce(s.sessions_start_not_seen, 0) AS sessions_start_not_seen,
        coalesce(s.failed_assume_role, 0) AS failed_assume_role,
        coalesce(a.actions, 0) AS actions,
        coalesce(a.errors, 0) AS errors,
        least(s.first_session, a.first_action) AS first_seen,
        greatest(s.last_session, a.last_action) AS last_seen,
        array_to_string(
            array_sort(array_distinct(array_concat(s.source_ips, a.source_ips))), ', '
        ) AS source_ips,
        array_to_string(
            array_sort(array_distinct(array_concat(s.user_agents, a.user_agents))), ' | '
        ) AS user_agents,
        CASE
            WHEN s.party IS NULL THEN 'trusted, not seen in the lake'
            WHEN s.party_class = 'unattributed'
                THEN 'keys used with no AssumeRole in the lake, on roles no trust policy of an IAM snapshot names: maybe third party'
            WHEN t.party IS NULL AND (SELECT count(*) FROM role_trust) > 0
                THEN 'seen in the lake, named by no trust policy of the IAM snapshot'
            ELSE ''
        END AS note
    FROM parties AS p
    LEFT JOIN trusted AS t ON t.party = p.party
    LEFT JOIN seen AS s ON s.party = p.party
    LEFT JOIN acted AS a ON a.party = p.party
),
notes AS (
    SELECT concat(
        'the lake covers ',
        coalesce(to_char(min(event_time), '%Y-%m-%dT%H:%M:%SZ'), '(no events)'),
        ' to ',
        coalesce(to_char(max(event_time), '%Y-%m-%dT%H:%M:%SZ'), '(no events)')
    ) AS note
    FROM events_all
    UNION ALL
    SELECT 'no IAM snapshot in the lake (crosstrail ingest --iam): the roles a third party may assume are unknown, and sessions whose start is not in the lake cannot be attributed'
    WHERE (SELECT count(*) FROM role_trust) = 0
    UNION ALL
    SELECT note FROM input_notes
)
SELECT * FROM rows
UNION ALL
SELECT
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL,
    note
FROM notes
ORDER BY party NULLS LAST, note
