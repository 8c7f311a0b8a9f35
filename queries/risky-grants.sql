-- risky-grants: dangerous grants held by third-party roles on every resource (kms:Decrypt, kms:CreateGrant, iam:PassRole, sts:AssumeRole, ec2:StopInstances, s3 reads and deletes, permissions management, ...), each used or unused, unused first
--
-- A grant is "on every resource" when one of its Resource patterns is `*` or an ARN that ends
-- in a bare `*` after the service (`arn:aws:s3:::*`). The named actions are listed one per row;
-- any other Permissions-management action on every resource is grouped per service (the
-- `iam:*` / `kms:*` kind of grant). Used = a session of the role used it in the window
-- (role_action_use). `not-observable` actions (iam:PassRole, data events without data events
-- in the lake) can never show a use; they are listed as such, not as unused.
-- --all-roles covers every role; --role narrows to one.
WITH
rules (pattern, why) AS (
    VALUES
        ('kms:Decrypt', 'decrypts data under any KMS key whose key policy lets the account in'),
        ('kms:CreateGrant', 'gives itself or others lasting use of KMS keys'),
        ('kms:ReEncryptFrom', 'decrypts data under any KMS key (as part of re-encrypting)'),
        ('kms:ScheduleKeyDeletion', 'can destroy keys and every piece of data encrypted under them'),
        ('kms:PutKeyPolicy', 'rewrites who may use a key'),
        ('iam:PassRole', 'hands roles, and their permissions, to services it launches'),
        ('sts:AssumeRole', 'moves into other roles that trust the account'),
        ('ec2:StopInstances', 'stops any instance'),
        ('ec2:TerminateInstances', 'destroys any instance'),
        ('ec2:ModifyInstanceAttribute', 'changes user data, roles and security of instances'),
        ('s3:GetObject', 'reads any object of any bucket the bucket policies allow'),
        ('s3:DeleteObject', 'deletes any object'),
        ('s3:PutObject', 'writes or overwrites any object'),
        ('s3:PutBucketPolicy', 'rewrites who may read buckets, also to the public'),
        ('s3:DeleteBucket', 'deletes buckets'),
        ('secretsmanager:GetSecretValue', 'reads every secret'),
        ('ssm:GetParameter', 'reads parameters, SecureString secrets included'),
        ('ssm:GetParameters', 'reads parameters, SecureString secrets included'),
        ('ssm:SendCommand', 'runs commands on managed instances'),
        ('lambda:UpdateFunctionCode', 'replaces code that runs with the functions'' roles'),
        ('cloudtrail:StopLogging', 'switches off the audit trail'),
        ('cloudtrail:DeleteTrail', 'removes the audit trail'),
        ('organizations:LeaveOrganization', 'takes the account out of the organization and its SCPs')
),
graded AS (
    SELECT *
    FROM role_scope
    WHERE array_to_string(granted_resources, ' ') ~ '(^| )(arn:[^ :]*:[^ :]*:[^ :]*:[^ :]*:)?\*( |$)'
),
named AS (
    SELECT
        g.role_arn,
        g.role_name,
        g.status,
        g.action AS grant_,
        1 AS actions,
        r.why,
        g.access_level,
        g.risk_rank,
        g.access,
        coalesce(g.uses, 0) AS uses,
        g.last_seen,
        array_to_string(g.granted_resources, ', ') AS granted_resources,
        array_to_string(g.policies, ', ') AS granted_by
    FROM graded AS g
    JOIN rules AS r
      ON lower(g.action) = lower(r.pattern)
),
permissions AS (
    SELECT
        g.role_arn,
        g.role_name,
        g.status,
        concat(g.service, ': ', CAST(count(*) AS VARCHAR), ' permissions-management action',
               CASE WHEN count(*) > 1 THEN 's' ELSE '' END) AS grant_,
        count(*) AS actions,
        'changes who may do what (policies, grants, ACLs)' AS why,
        'Permissions management' AS access_level,
        4 AS risk_rank,
        string_agg(DISTINCT g.access, ', ') AS access,
        coalesce(sum(g.uses), 0) AS uses,
        max(g.last_seen) AS last_seen,
        array_to_string(array_distinct(flatten(array_agg(g.granted_resources))), ', ') AS granted_resources,
        array_to_string(array_distinct(flatten(array_agg(g.policies))), ', ') AS granted_by
    FROM graded AS g
    WHERE g.access_level = 'Permissions management'
      AND lower(g.action) NOT IN (SELECT lower(pattern) FROM rules)
    GROUP BY g.role_arn, g.role_name, g.status, g.service
)
SELECT * EXCLUDE (risk_rank)
FROM (
    SELECT
        role_name,
        status,
        grant_ AS grant_on_everything,
        why,
        access_level,
        access,
        uses,
        last_seen,
        granted_resources,
        granted_by,
        role_arn,
        CAST(NULL AS VARCHAR) AS note,
        risk_rank
    FROM (SELECT * FROM named UNION ALL SELECT * FROM permissions)
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, note, NULL
    FROM grant_notes
)
ORDER BY
    CASE status WHEN 'unused' THEN 0 WHEN 'not-observable' THEN 1 WHEN 'used' THEN 2 ELSE 3 END,
    risk_rank DESC,
    role_arn,
    grant_on_everything,
    note
