-- trust_reach: which parties may become each role, directly by its trust policy or through roles that trust other roles (role chains, depth capped at 10)
--
-- Depth 0 is a direct Allow in the role's trust policy (every party, third or not). Depth n:
-- the role trusts a role ARN (principal_kind 'role') that trusts ... a role a third party may
-- assume directly, n hops before; e.g. a vendor assumes VendorAccess, whose session may assume
-- DeployRole because DeployRole trusts VendorAccess. Only third parties are followed through
-- chains. One row per (role, party) at its smallest depth; `path` names the roles from the one
-- the party assumes first to this one, `via_role_arn` is that first role.
--
-- Not followed: a role that trusts its whole own account lets any principal of that account
-- assume it when the principal's own policies allow it; deciding that needs policy
-- evaluation, so such roles are reached only by their direct trust rows. Deny statements are
-- not subtracted. Empty without an IAM snapshot.
WITH RECURSIVE
-- role -> the role ARN it trusts (raw rows: the recursion stays cheap).
role_edges AS (
    SELECT DISTINCT role_arn, role_name, principal AS trusted_role_arn
    FROM role_trust
    WHERE effect = 'Allow'
      AND NOT coalesce(not_principal, false)
      AND principal_kind = 'role'
),
-- (entry role, role reachable from it, hops)
hops AS (
    SELECT DISTINCT
        role_arn AS entry_role_arn,
        role_arn,
        0 AS depth,
        arrow_cast(role_name, 'Utf8') AS path
    FROM role_trust
    UNION ALL
    SELECT
        h.entry_role_arn,
        e.role_arn,
        h.depth + 1 AS depth,
        concat(h.path, ' > ', e.role_name) AS path
    FROM hops AS h
    JOIN role_edges AS e
      ON e.trusted_role_arn = h.role_arn
    WHERE h.depth < 10
),
-- The trust row through which a chained role is entered (raw rows, read once).
hop_conditions AS (
    SELECT
        role_arn,
        bool_or(coalesce(requires_external_id, false)) AS requires_external_id,
        string_agg(DISTINCT array_to_string(narrowing_conditions, ', '), '; ') AS narrowed_by
    FROM role_trust
    WHERE effect = 'Allow'
      AND NOT coalesce(not_principal, false)
      AND principal_kind = 'role'
    GROUP BY role_arn
),
reach AS (
    SELECT
        d.account_id AS entry_account_id,
        h.role_arn,
        regexp_replace(h.role_arn, '^.*/', '') AS role_name,
        d.party_class,
        d.party,
        d.party_account_id,
        d.vendor_source,
        d.third_party,
        h.depth,
        CASE WHEN h.depth > 0 THEN h.entry_role_arn END AS via_role_arn,
        h.path,
        CASE
            WHEN h.depth = 0 THEN d.requires_external_id
            ELSE coalesce(c.requires_external_id, false)
        END AS requires_external_id,
        CASE WHEN h.depth = 0 THEN d.narrowed_by ELSE coalesce(c.narrowed_by, '') END
            AS narrowed_by
    FROM hops AS h
    JOIN trust_classified AS d
      ON d.role_arn = h.entry_role_arn
     AND d.effect = 'Allow'
     AND NOT d.not_principal
    LEFT JOIN hop_conditions AS c
      ON c.role_arn = h.role_arn
    WHERE h.depth = 0
       OR d.third_party
)
SELECT
    arn_account AS account_id,
    * EXCLUDE (pick, arn_account, entry_account_id)
FROM (
    SELECT
        *,
        split_part(role_arn, ':', 5) AS arn_account,
        ROW_NUMBER() OVER (
            PARTITION BY role_arn, party_class, party
            ORDER BY depth, path, via_role_arn, requires_external_id DESC
        ) AS pick
    FROM reach
)
WHERE pick = 1
