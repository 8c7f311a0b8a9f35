-- blast-radius: per third party and per session: services, regions, resources read vs changed, S3 objects and bytes read/written, IAM and STS changes, failed attempts
--
-- One 'third party' row per party, followed by one 'session' row per session of it (chained
-- sessions are sessions of the third party at the root). Filters from report_params narrow
-- it, as in the timeline: --vendor, --role, --session (a session or the root of its chain),
-- --access-key, --source-ip, --from/--to (on the actions' time).
-- Resources are the records' `resources` ARNs; for a record that names none (most
-- management events), the first identifier in its requestParameters (instanceId,
-- functionName, roleName, keyId, ...; third_party_activity.resource_summary) written
-- `<service>:<field>/<value>`, e.g. `ec2:instanceId/i-0abc`; calls with neither touch no
-- resource here. Read vs changed follows the record's readOnly flag;
-- only successful calls count as reads or changes. S3 objects are `AWS::S3::Object`
-- resources: they appear only when the trail logs S3 data events (see the note rows).
-- Bytes are additionalEventData.bytesTransferredOut/In, read with a regular expression: this
-- DataFusion build has no JSON functions, and the field is a plain number in the JSON text.
-- iam_changes counts successful IAM calls that are not read-only; sts_credentials counts
-- successful calls that mint credentials (AssumeRole*, GetFederationToken, GetSessionToken),
-- i.e. hops to other roles. failed_attempts counts calls with an error code.
WITH
filtered AS (
    SELECT a.*
    FROM activity_in_scope AS a
    WHERE a.session_error_code IS NULL
),
-- One row per (action, resource), plus one row per action with r NULL, so that every action
-- is counted exactly once by `r IS NULL`.
touched AS (
    SELECT
        *,
        unnest(array_append(resources, NULL)) AS r
    FROM filtered
),
flat AS (
    SELECT
        party,
        party_class,
        session_key,
        role_name,
        role_session_name,
        session_start,
        event_id,
        event_time,
        regexp_replace(event_source, '\.amazonaws\.com$', '') AS service,
        event_source,
        event_name,
        aws_region,
        read_only,
        error_code,
        CASE
            WHEN r IS NOT NULL THEN r['arn']
            WHEN coalesce(cardinality(resources), 0) = 0 THEN resource_summary
        END AS arn,
        r['type'] AS resource_type,
        r IS NULL AND event_id IS NOT NULL AS is_action,
        CAST(regexp_match(additional_event_data,
            '"bytesTransferredOut"\s*:\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)')[1] AS DOUBLE)
            AS bytes_out,
        CAST(regexp_match(additional_event_data,
            '"bytesTransferredIn"\s*:\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)')[1] AS DOUBLE)
            AS bytes_in
    FROM touched
),
grouped AS (
    SELECT
        CASE WHEN grouping(session_key) = 1 THEN 'third party' ELSE 'session' END AS scope,
        party,
        max(party_class) AS party_class,
        session_key,
        role_session_name,
        session_start,
        array_to_string(array_sort(array_agg(DISTINCT role_name)), ', ') AS roles,
        count(DISTINCT session_key) AS sessions,
        count(*) FILTER (WHERE is_action) AS actions,
        count(*) FILTER (WHERE is_action AND read_only AND error_code IS NULL) AS reads,
        count(*) FILTER (WHERE is_action AND NOT read_only AND error_code IS NULL) AS changes,
        min(event_time) AS first_action,
        max(event_time) AS last_action,
        array_to_string(array_sort(array_agg(DISTINCT service)), ', ') AS services,
        array_to_string(array_sort(array_agg(DISTINCT aws_region)), ', ') AS regions,
        count(DISTINCT arn) FILTER (WHERE read_only AND error_code IS NULL) AS resources_read,
        count(DISTINCT arn) FILTER (WHERE NOT read_only AND error_code IS NULL)
            AS resources_changed,
        array_to_string(
            array_slice(
                array_sort(array_agg(DISTINCT arn) FILTER (
                    WHERE NOT read_only AND error_code IS NULL)),
                1, 10),
            ' '
        ) AS changed_resources_first_10,
        count(DISTINCT arn) FILTER (
            WHERE resource_type = 'AWS::S3::Object' AND read_only AND error_code IS NULL
        ) AS s3_objects_read,
        count(DISTINCT arn) FILTER (
            WHERE resource_type = 'AWS::S3::Object' AND NOT read_only AND error_code IS NULL
        ) AS s3_objects_written,
        coalesce(CAST(sum(bytes_out) FILTER (
            WHERE is_action AND event_source = 's3.amazonaws.com' AND error_code IS NULL
        ) AS BIGINT), 0) AS s3_bytes_out,
        coalesce(CAST(sum(bytes_in) FILTER (
            WHERE is_action AND event_source = 's3.amazonaws.com' AND error_code IS NULL
        ) AS BIGINT), 0) AS s3_bytes_in,
        count(*) FILTER (
            WHERE is_action AND event_source = 'iam.amazonaws.com' AND NOT read_only
              AND error_code IS NULL
        ) AS iam_changes,
        count(*) FILTER (
            WHERE is_action AND event_source = 'sts.amazonaws.com' AND error_code IS NULL
              AND (event_name LIKE 'AssumeRole%'
                   OR event_name IN ('GetFederationToken', 'GetSessionToken'))
        ) AS sts_credentials,
        array_to_string(
            array_sort(array_agg(DISTINCT concat(service, ':', event_name)) FILTER (
                WHERE is_action AND error_code IS NULL
                  AND ((event_source = 'iam.amazonaws.com' AND NOT read_only)
                       OR (event_source = 'sts.amazonaws.com'
                           AND (event_name LIKE 'AssumeRole%'
                                OR event_name IN ('GetFederationToken', 'GetSessionToken'))))
            )),
            ', '
        ) AS iam_sts_calls,
        count(*) FILTER (WHERE is_action AND error_code IS NOT NULL) AS failed_attempts
    FROM flat
    GROUP BY GROUPING SETS (
        (party),
        (party, session_key, role_session_name, session_start)
    )
),
notes AS (
    SELECT
        'no S3 data events in the lake: object reads and writes are logged only when the trail records data events, so the s3_* columns say nothing here' AS note,
        false AS only_if_empty
    WHERE NOT EXISTS (SELECT 1 FROM events_all WHERE event_category = 'Data')
    UNION ALL
    SELECT note, false FROM input_notes
    UNION ALL
    SELECT 'no third-party activity in the lake matches the filters', true
),
rows AS (
    SELECT *, '' AS note, false AS only_if_empty FROM grouped
    UNION ALL
    SELECT
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        note, only_if_empty
    FROM notes
)
-- (the emptiness is counted in the same pass: naming `grouped` twice would compute it twice)
SELECT * EXCLUDE (only_if_empty, groups)
FROM (SELECT *, count(scope) OVER () AS groups FROM rows)
WHERE NOT only_if_empty OR groups = 0
ORDER BY party NULLS LAST, scope DESC, session_start, session_key, note
