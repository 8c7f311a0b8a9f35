-- third_party_actions: every action made with a third-party session's temporary key, with the session's party and chain (third_party_activity without the sessions that did nothing)
SELECT *
FROM third_party_activity
WHERE event_id IS NOT NULL
