-- input_notes: one row per input a report run did not get that changes who counts as a third party (vendor list, own accounts); reports append them to their notes
--
-- The IAM snapshot is not here: what its absence hides differs per report, so each report
-- says it in its own words.
SELECT 'no vendor list (--vendors): vendors are shown as unknown-account, by account id' AS note
FROM report_params
WHERE NOT vendors_given
UNION ALL
SELECT 'own accounts inferred from the lake (the accounts whose trails were ingested): give --own-accounts or --org to name them' AS note
FROM report_params
WHERE NOT own_accounts_given
  AND NOT org_given
