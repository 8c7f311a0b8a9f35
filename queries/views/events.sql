-- events: every CloudTrail record once (copies from several trails or redeliveries removed)
--
-- One record can reach the lake more than once: an organization trail and an account trail
-- both deliver it, or a log object is delivered twice. All copies share the event_id and the
-- event_time, hence the event_date. Keep the copy from the first source object by name, so the
-- choice does not depend on file listing order.
--
-- The window is partitioned by event_date first: a filter on event_date can then be pushed
-- below it, and partition pruning still works through this view.
-- Records without an event_id cannot be matched with their copies: all of them are kept.
SELECT * EXCLUDE (copy_number)
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY event_date, event_id
            ORDER BY source_object
        ) AS copy_number
    FROM events_all
)
WHERE copy_number = 1
   OR event_id IS NULL
