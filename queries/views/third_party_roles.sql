-- third_party_roles: every role a third party may assume (trust_reach, role chains included) or did assume (third_party_sessions), with who
--
-- One row per role. `parties` lists the vendors / accounts / identity providers behind it;
-- `assumed` says whether the lake holds at least one of their sessions.
WITH trusted AS (
    SELECT role_arn, party
    FROM trust_reach
    WHERE third_party
),
seen AS (
    SELECT role_arn, party
    FROM third_party_sessions
    WHERE role_arn IS NOT NULL
),
both_ AS (
    SELECT role_arn, party, false AS assumed FROM trusted
    UNION ALL
    SELECT role_arn, party, true AS assumed FROM seen
)
SELECT
    role_arn,
    split_part(role_arn, ':', 5) AS account_id,
    regexp_replace(role_arn, '^.*/', '') AS role_name,
    array_sort(array_agg(DISTINCT party) FILTER (WHERE party IS NOT NULL)) AS parties,
    bool_or(assumed) AS assumed
FROM both_
GROUP BY role_arn
