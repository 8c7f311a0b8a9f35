-- session_chains: every assumed-role session with its chain (parent, depth, root caller) and who is behind it, classified by party_classes; sessions whose start is not in the lake are rebuilt from their actions
--
-- One row per session:
-- * a session the lake saw start: one AssumeRole* record per temporary key (the copy logged
--   in the role's account is preferred; when the caller's account trail is ingested too, its
--   copy is linked by sharedEventID as caller_side_event_id / caller_side_arn). Failed calls,
--   which hand out no key, are sessions too, with error_code set.
-- * a session whose start is not in the lake (start_seen = false): an AssumedRole access key
--   of a role in your accounts (own_set) used in events with no AssumeRole
--   handing it out (it started before the lake's span, or its AssumeRole was logged
--   elsewhere). Its role is the events' session issuer; its start is the sessionContext
--   creationDate.
--
-- Chains: a session whose caller is an assumed-role session (caller_access_key_id) is that
-- session's child; the parent is always a node, either seen starting or rebuilt from its
-- actions, since the chained AssumeRole record is itself an event signed with the parent's key.
-- A hop between two of your accounts (own_set) shows the caller only as an account in the
-- role's account: the session that called is read from the caller's copy (same
-- sharedEventID), so the caller account's trail must be in the lake; without it the hop is a
-- root, attributed to that (own) account.
-- Depth 0 is the root. The recursion stops at depth 10 (a guard: a child must also start no
-- earlier than its parent, so keys cannot loop); sessions deeper than that are not listed.
-- A chained AssumeRole whose record lacks the caller's key cannot be linked and is a root,
-- attributed to its caller (your own account). source_identity is carried down the chain (STS
-- keeps it across hops).
--
-- Who is behind a session is decided at the root: the root's caller, classified by
-- party_classes ('AssumeRole caller'), or, for a root whose start is not in the lake, the
-- parties the root role's trust policy lets in (trust_reach, needs an IAM snapshot;
-- 'trust policy (start not seen)'): one party when the trust names one, else party_class
-- 'ambiguous' with every candidate in `party`. Without a snapshot such sessions stay
-- 'unattributed' and are not counted as third party.
WITH RECURSIVE
copies AS (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY coalesce(temp_access_key_id, shared_event_id, event_id)
            ORDER BY
                CASE WHEN recipient_account_id = role_account_id THEN 0 ELSE 1 END,
                event_time,
                event_id
        ) AS copy_rank,
        -- the copy logged in the caller's account, found by sharedEventID
        CASE WHEN shared_event_id IS NOT NULL THEN
            first_value(CASE WHEN recipient_account_id <> role_account_id THEN event_id END)
                OVER (
                    PARTITION BY shared_event_id
                    ORDER BY
                        CASE WHEN recipient_account_id <> role_account_id THEN 0 ELSE 1 END,
                        event_id
                )
        END AS caller_side_event_id,
        CASE WHEN shared_event_id IS NOT NULL THEN
            first_value(CASE WHEN recipient_account_id <> role_account_id THEN caller_arn END)
                OVER (
                    PARTITION BY shared_event_id
                    ORDER BY
                        CASE WHEN recipient_account_id <> role_account_id THEN 0 ELSE 1 END,
                        event_id
                )
        END AS caller_side_arn,
        CASE WHEN shared_event_id IS NOT NULL THEN
            first_value(
                CASE
                    WHEN recipient_account_id <> role_account_id
                     AND caller_identity_type = 'AssumedRole'
                        THEN caller_access_key_id
                END
            ) OVER (
                PARTITION BY shared_event_id
                ORDER BY
                    CASE WHEN recipient_account_id <> role_account_id THEN 0 ELSE 1 END,
                    event_id
            )
        END AS caller_side_session_key
    FROM sessions
),
-- Sessions the lake saw start. An AssumedRole caller's key is always a session's key: one
-- the lake saw start, or one in `unseen` (the chained AssumeRole record itself is an event
-- signed with it), so it is the parent's key.
started AS (
    SELECT
        s.temp_access_key_id AS session_key,
        s.event_id AS session_event_id,
        s.event_name,
        s.event_time AS session_start,
        s.expires_at,
        s.role_arn,
        s.role_account_id,
        s.role_session_name,
        s.assumed_role_arn,
        s.caller_identity_type,
        s.caller_account_id,
        s.caller_principal_id,
        s.caller_arn,
        s.caller_access_key_id,
        s.identity_provider,
        s.invoked_by,
        s.source_identity,
        s.external_id_present,
        s.external_id_fingerprint,
        s.external_id_length,
        s.external_id_uuid_shaped,
        s.error_code,
        s.error_message,
        s.source_ip,
        s.user_agent,
        s.aws_region,
        s.shared_event_id,
        CASE WHEN s.recipient_account_id = s.role_account_id THEN s.caller_side_event_id END
            AS caller_side_event_id,
        CASE WHEN s.recipient_account_id = s.role_account_id THEN s.caller_side_arn END
            AS caller_side_arn,
        true AS start_seen,
        CASE
            WHEN s.caller_identity_type = 'AssumedRole' THEN s.caller_access_key_id
            -- a hop from one of your accounts to another: the role's account sees an
            -- AWSAccount caller, the caller's account (when its trail is in the lake) the
            -- session that called
            WHEN s.recipient_account_id = s.role_account_id AND own.account_id IS NOT NULL
                THEN s.caller_side_session_key
        END AS parent_key
    FROM copies AS s
    LEFT JOIN own_set AS own
      ON own.account_id = s.caller_account_id
    WHERE s.copy_rank = 1
),
-- Sessions whose start is not in the lake: AssumedRole keys no AssumeRole handed out.
unseen AS (
    SELECT
        e.access_key_id AS session_key,
        min(e.session_created_at) AS created_at,
        min(e.event_time) AS first_seen,
        max(e.session_issuer_arn) AS role_arn,
        max(e.session_issuer_account_id) AS role_account_id,
        max(e.principal_arn) AS assumed_role_arn,
        max(e.source_identity) AS source_identity,
        max(e.source_ip) AS source_ip,
        max(e.user_agent) AS user_agent
    FROM events_all AS e
    WHERE e.identity_type = 'AssumedRole'
      AND e.access_key_id IS NOT NULL
      -- your roles only: a vendor's trail ingested beside yours holds its own sessions too
      AND e.session_issuer_account_id IN (SELECT account_id FROM own_set)
      AND NOT EXISTS (
              SELECT 1 FROM sessions_all AS s
              WHERE s.temp_access_key_id = e.access_key_id
          )
    GROUP BY e.access_key_id
),
roots AS (
    SELECT *
    FROM started
    WHERE parent_key IS NULL
    UNION ALL
    SELECT
        session_key,
        arrow_cast(NULL, 'Utf8') AS session_event_id,
        arrow_cast(NULL, 'Utf8') AS event_name,
        coalesce(created_at, first_seen) AS session_start,
        arrow_cast(NULL, 'Timestamp(Millisecond, Some("UTC"))') AS expires_at,
        role_arn,
        role_account_id,
        regexp_replace(assumed_role_arn, '^.*/', '') AS role_session_name,
        assumed_role_arn,
        arrow_cast(NULL, 'Utf8') AS caller_identity_type,
        arrow_cast(NULL, 'Utf8') AS caller_account_id,
        arrow_cast(NULL, 'Utf8') AS caller_principal_id,
        arrow_cast(NULL, 'Utf8') AS caller_arn,
        arrow_cast(NULL, 'Utf8') AS caller_access_key_id,
        arrow_cast(NULL, 'Utf8') AS identity_provider,
        arrow_cast(NULL, 'Utf8') AS invoked_by,
        source_identity,
        false AS external_id_present,
        arrow_cast(NULL, 'Utf8') AS external_id_fingerprint,
        CAST(NULL AS INT) AS external_id_length,
        CAST(NULL AS BOOLEAN) AS external_id_uuid_shaped,
        arrow_cast(NULL, 'Utf8') AS error_code,
        arrow_cast(NULL, 'Utf8') AS error_message,
        source_ip,
        user_agent,
        arrow_cast(NULL, 'Utf8') AS aws_region,
        arrow_cast(NULL, 'Utf8') AS shared_event_id,
        arrow_cast(NULL, 'Utf8') AS caller_side_event_id,
        arrow_cast(NULL, 'Utf8') AS caller_side_arn,
        false AS start_seen,
        arrow_cast(NULL, 'Utf8') AS parent_key
    FROM unseen
),
children AS (
    SELECT *
    FROM started
    WHERE parent_key IS NOT NULL
),
chain AS (
    SELECT
        *,
        arrow_cast(NULL, 'Utf8') AS parent_session_key,
        arrow_cast(NULL, 'Utf8') AS parent_session_event_id,
        arrow_cast(NULL, 'Utf8') AS parent_role_arn,
        0 AS depth,
        arrow_cast(regexp_replace(role_arn, '^.*/', ''), 'Utf8') AS chain_path,
        session_key AS root_session_key,
        session_event_id AS root_session_event_id,
        role_arn AS root_role_arn,
        role_account_id AS root_role_account_id,
        caller_identity_type AS root_caller_identity_type,
        caller_account_id AS root_caller_account_id,
        identity_provider AS root_identity_provider,
        invoked_by AS root_invoked_by,
        start_seen AS root_start_seen,
        source_identity AS chain_source_identity
    FROM roots
    UNION ALL
    SELECT
        n.*,
        c.session_key AS parent_session_key,
        c.session_event_id AS parent_session_event_id,
        c.role_arn AS parent_role_arn,
        c.depth + 1 AS depth,
        concat(c.chain_path, ' > ', regexp_replace(n.role_arn, '^.*/', '')) AS chain_path,
        c.root_session_key,
        c.root_session_event_id,
        c.root_role_arn,
        c.root_role_account_id,
        c.root_caller_identity_type,
        c.root_caller_account_id,
        c.root_identity_provider,
        c.root_invoked_by,
        c.root_start_seen,
        coalesce(n.source_identity, c.chain_source_identity) AS chain_source_identity
    FROM chain AS c
    JOIN children AS n
      ON n.parent_key = c.session_key
     AND n.session_start >= c.session_start
    WHERE c.depth < 10
),
-- Who a root caller is: its party key, as party_classes builds it from sessions.
root_keys AS (
    SELECT
        *,
        CASE
            WHEN root_caller_identity_type = 'AWSService' THEN 'service'
            WHEN root_caller_identity_type IN ('SAMLUser', 'WebIdentityUser') THEN 'idp'
            WHEN root_caller_account_id IS NOT NULL THEN 'account'
            ELSE 'other'
        END AS party_type,
        CASE
            WHEN root_caller_identity_type = 'AWSService' THEN coalesce(root_invoked_by, '')
            WHEN root_caller_identity_type IN ('SAMLUser', 'WebIdentityUser')
                THEN coalesce(root_identity_provider, '')
            WHEN root_caller_account_id IS NOT NULL THEN coalesce(root_caller_account_id, '')
            ELSE coalesce(root_caller_identity_type, '')
        END AS party_value
    FROM chain
),
-- Who may be behind a root whose start is not in the lake: its role's trust.
trusted_parties AS (
    SELECT
        role_arn,
        CASE
            WHEN count(DISTINCT party) = 1 THEN max(party_class)
            ELSE 'ambiguous'
        END AS party_class,
        string_agg(DISTINCT party, ' | ' ORDER BY party) AS party,
        CASE WHEN count(DISTINCT party) = 1 THEN max(party_account_id) END AS party_account_id,
        CASE WHEN count(DISTINCT party) = 1 THEN max(vendor_source) END AS vendor_source,
        bool_or(third_party) AS third_party
    FROM trust_reach
    GROUP BY role_arn
)
SELECT
    k.session_key,
    k.session_event_id,
    k.event_name,
    k.session_start,
    k.expires_at,
    k.role_arn,
    k.role_account_id,
    regexp_replace(k.role_arn, '^.*/', '') AS role_name,
    k.role_session_name,
    k.assumed_role_arn,
    k.start_seen,
    k.error_code,
    k.error_message,
    k.caller_identity_type,
    k.caller_account_id,
    k.caller_principal_id,
    k.caller_arn,
    k.caller_access_key_id,
    k.caller_side_event_id,
    k.caller_side_arn,
    k.parent_session_key,
    k.parent_session_event_id,
    k.parent_role_arn,
    k.depth,
    k.chain_path,
    k.root_session_key,
    k.root_session_event_id,
    k.root_role_arn,
    k.root_caller_account_id,
    k.root_start_seen,
    k.chain_source_identity AS source_identity,
    k.external_id_present,
    k.external_id_fingerprint,
    k.external_id_length,
    k.external_id_uuid_shaped,
    k.source_ip,
    k.user_agent,
    k.aws_region,
    k.shared_event_id,
    concat(
        CASE WHEN k.depth > 0 THEN 'role chain' END,
        CASE WHEN k.depth > 0 AND NOT k.root_start_seen THEN ', root: ' END,
        CASE
            WHEN k.root_start_seen AND k.depth = 0 THEN 'AssumeRole caller'
            WHEN k.root_start_seen THEN ''
            WHEN t.role_arn IS NOT NULL THEN 'trust policy (start not seen)'
            ELSE 'unattributed (start not seen)'
        END
    ) AS attribution,
    CASE
        WHEN k.root_start_seen THEN c.party_class
        WHEN t.role_arn IS NOT NULL THEN t.party_class
        ELSE 'unattributed'
    END AS party_class,
    CASE
        WHEN k.root_start_seen THEN c.party
        ELSE t.party
    END AS party,
    CASE
        WHEN k.root_start_seen THEN c.party_account_id
        ELSE t.party_account_id
    END AS party_account_id,
    CASE
        WHEN k.root_start_seen THEN c.vendor_source
        ELSE t.vendor_source
    END AS vendor_source,
    coalesce(CASE WHEN k.root_start_seen THEN c.third_party ELSE t.third_party END, false)
        AS third_party
FROM root_keys AS k
LEFT JOIN party_classes AS c
  ON c.role_account_id = coalesce(k.root_role_account_id, '')
 AND c.party_type = k.party_type
 AND c.party_value = k.party_value
LEFT JOIN trusted_parties AS t
  ON NOT k.root_start_seen
 AND t.role_arn = k.root_role_arn
