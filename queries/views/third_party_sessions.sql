-- third_party_sessions: the sessions of session_chains behind which stands a third party (vendor, unknown account, external identity provider, public), chained ones included
--
-- A chained session belongs to the third party at the root of its chain, so a vendor session
-- that assumes a second role of yours counts here even though its caller is your own role.
-- Failed AssumeRole calls are sessions without a key (error_code set).
SELECT *
FROM session_chains
WHERE third_party
