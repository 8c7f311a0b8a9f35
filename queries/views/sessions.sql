-- sessions: every AssumeRole* record once (copies from several trails or redeliveries removed)
--
-- Same rule as the events view: copies share the event_id and the event_date; keep the copy
-- from the first source object by name. Partitioning the window by event_date first keeps
-- partition pruning working through this view. Records without an event_id are all kept.
--
-- A cross-account AssumeRole is logged in both the caller's and the role's account, with two
-- different event_ids: both rows stay here (see session_actions for one row per key).
SELECT * EXCLUDE (copy_number)
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY event_date, event_id
            ORDER BY source_object
        ) AS copy_number
    FROM sessions_all
)
WHERE copy_number = 1
   OR event_id IS NULL
