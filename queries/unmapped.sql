-- unmapped: every (eventSource, eventName) in the lake that maps to no IAM action of the catalog, with how often and when it was seen
--
-- These events are invisible to `unused` and `rightsize`: an action they stand for is never
-- counted as used. Each row is a candidate for the exception table
-- (crates/iam/data/event_actions.tsv) or a sign that the catalog is older than the logs
-- (crates/iam/data/README.md says how to refresh it). Events that need no permission or are
-- not authorization evidence are not listed (iam_event_class).
SELECT
    event_source,
    event_name,
    count(*) AS events,
    count(DISTINCT recipient_account_id) AS accounts,
    min(event_time) AS first_seen,
    max(event_time) AS last_seen,
    min(event_id) AS sample_event_id
FROM events
WHERE iam_event_class(event_source, event_name, event_type, identity_type, NULL, request_parameters) = 'unmapped'
GROUP BY event_source, event_name
ORDER BY events DESC, event_source, event_name
