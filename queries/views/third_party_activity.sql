-- third_party_activity: every third-party session with every action made with its temporary key (one row per action; a session without actions once, with empty action columns)
--
-- An action is an event signed with the session's key (events.access_key_id), whatever file
-- or day it was logged in; a chained AssumeRole is an action of the session that made it.
-- When a record lacks the key (CloudTrail: accessKeyId "might not be present, or might be
-- displayed as an empty string"), it is matched on the session's assumed-role ARN and its
-- creationDate within 5 minutes of the session's start (matched_by 'session ARN').
-- An action logged in two accounts (same sharedEventID, e.g. a call on another account's
-- resource) is kept once, the copy of the role's account preferred.
--
-- Sessions and actions come in one relation so that a report reads the sessions once:
-- DataFusion computes a view again wherever a query names it.
WITH
-- Records without a key: the session whose assumed-role ARN and start match.
key_by_arn AS (
    SELECT event_id, session_key
    FROM (
        SELECT
            e.event_id,
            s.temp_access_key_id AS session_key,
            ROW_NUMBER() OVER (
                PARTITION BY e.event_id
                ORDER BY
                    abs(date_part('epoch', e.session_created_at)
                        - date_part('epoch', s.event_time)),
                    s.temp_access_key_id
            ) AS pick
        FROM events_all AS e
        JOIN sessions_all AS s
          ON s.assumed_role_arn = e.principal_arn
         AND s.temp_access_key_id IS NOT NULL
         AND e.session_created_at >= s.event_time - INTERVAL '5 minutes'
         AND e.session_created_at <= s.event_time + INTERVAL '5 minutes'
        WHERE e.access_key_id IS NULL
          AND e.identity_type = 'AssumedRole'
    )
    WHERE pick = 1
),
signed AS (
    SELECT
        e.*,
        regexp_match(
            e.request_parameters,
            '"(instanceId|functionName|bucketName|roleName|userName|groupName|policyArn|keyId|groupId|volumeId|snapshotId|secretId|logGroupName|stackName|tableName|trailName|roleArn)"\s*:\s*"([^"]+)"'
        ) AS request_hint,
        coalesce(e.access_key_id, k.session_key) AS matched_session_key,
        CASE WHEN e.access_key_id IS NOT NULL THEN 'access key' ELSE 'session ARN' END
            AS matched_by
    FROM events AS e
    LEFT JOIN key_by_arn AS k
      ON e.access_key_id IS NULL
     AND k.event_id = e.event_id
    WHERE e.access_key_id IS NOT NULL
       OR k.session_key IS NOT NULL
),
matched AS (
    SELECT
        -- who and which session
        s.party,
        s.party_class,
        s.party_account_id,
        s.vendor_source,
        s.attribution,
        s.session_key,
        s.session_event_id,
        s.session_start,
        s.expires_at,
        s.start_seen,
        s.event_name AS session_event_name,
        s.role_arn,
        s.role_account_id,
        s.role_name,
        s.role_session_name,
        s.depth,
        s.chain_path,
        s.parent_session_key,
        s.root_session_key,
        s.root_session_event_id,
        s.root_caller_account_id,
        s.source_identity,
        s.error_code AS session_error_code,
        s.error_message AS session_error_message,
        s.caller_identity_type,
        s.caller_account_id,
        s.caller_side_arn,
        s.source_ip AS session_source_ip,
        s.user_agent AS session_user_agent,
        s.aws_region AS session_aws_region,
        s.external_id_present,
        -- the action (NULL for a session without actions)
        e.event_id,
        e.event_time,
        e.event_source,
        e.event_name,
        e.event_category,
        e.aws_region,
        e.source_ip,
        e.user_agent,
        e.access_key_id,
        e.principal_arn,
        e.read_only,
        e.error_code,
        e.error_message,
        e.resources,
        -- what the call was about, for people: up to three resource ARNs, or, when the
        -- record names none (most management events), the first identifier found in its
        -- requestParameters, written <service>:<field>/<value>
        CASE
            WHEN coalesce(cardinality(e.resources), 0) > 0 THEN concat_ws(
                ' ',
                e.resources[1]['arn'],
                e.resources[2]['arn'],
                e.resources[3]['arn'],
                CASE WHEN cardinality(e.resources) > 3 THEN '...' END
            )
            WHEN e.request_hint IS NOT NULL THEN concat(
                regexp_replace(e.event_source, '\.amazonaws\.com$', ''), ':',
                e.request_hint[1], '/', e.request_hint[2]
            )
        END AS resource_summary,
        e.request_parameters,
        e.additional_event_data,
        e.recipient_account_id,
        e.shared_event_id,
        e.matched_by,
        e.event_date,
        ROW_NUMBER() OVER (
            PARTITION BY s.session_key, coalesce(e.shared_event_id, e.event_id)
            ORDER BY
                CASE WHEN e.recipient_account_id = s.role_account_id THEN 0 ELSE 1 END,
                e.event_id
        ) AS copy_rank
    FROM third_party_sessions AS s
    LEFT JOIN signed AS e
      ON e.matched_session_key = s.session_key
)
SELECT * EXCLUDE (copy_rank)
FROM matched
WHERE copy_rank = 1
   OR event_id IS NULL
