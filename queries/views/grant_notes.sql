-- grant_notes: what the least-privilege reports (unused, rightsize, risky-grants) did not get: no IAM snapshot, plus the input_notes on who counts as a third party
SELECT 'no IAM snapshot in the lake (crosstrail ingest --iam): no grants are known, so nothing can be listed' AS note
WHERE (SELECT count(*) FROM role_policies) = 0
UNION ALL
SELECT note FROM input_notes
