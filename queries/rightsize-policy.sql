-- rightsize-policy: per third-party role (--all-roles: every role), the suggested least-privilege policy documents (valid IAM JSON, each within the 6,144-character managed-policy limit) with counts of what they keep and drop
--
-- policy_documents is a JSON array of policy documents, ready for `aws iam create-policy
-- --policy-document` / `put-role-policy` one by one. They allow exactly the actions the role
-- used in the window (role_action_use) that it holds today, on the resources seen where the
-- resource type is known, else `*`; a wildcard inside a service only where every action it
-- matches was used. An empty array: nothing was used, every grant can go. Actions that are
-- not observable in this lake are not in it (see rightsize, change `review`).
SELECT
    role_name,
    count(*) FILTER (WHERE status = 'used') AS used_actions,
    count(*) FILTER (WHERE status = 'unused') AS removed_actions,
    count(*) FILTER (WHERE status = 'not-observable') AS review_actions,
    count(DISTINCT service) - count(DISTINCT service) FILTER (WHERE status = 'used')
        AS services_removed,
    suggest_policy(
        array_agg(action ORDER BY action) FILTER (WHERE status = 'used'),
        array_agg(resources_seen ORDER BY action) FILTER (WHERE status = 'used'),
        array_agg(resources_known ORDER BY action) FILTER (WHERE status = 'used')
    ) AS policy_documents,
    role_arn
FROM role_scope
GROUP BY role_arn, role_name
ORDER BY role_arn
