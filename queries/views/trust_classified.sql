-- trust_classified: every principal of every role's trust policy (latest IAM snapshot), classified by party_classes, with the conditions that narrow it
--
-- One row per role_trust row. `narrowed_by` lists the condition keys that restrict who can use
-- the grant (sts:ExternalId, aws:PrincipalOrgID, aws:SourceAccount, <provider>:sub, ...);
-- `conditions` is the statement's Condition block without its External IDs. Deny statements
-- and NotPrincipal entries are kept: `effect` and `not_principal` say what they are.
-- Empty when no IAM snapshot was loaded (`crosstrail ingest --iam`).
WITH keyed AS (
    SELECT * FROM trust_keys
)
SELECT
    t.account_id,
    t.role_arn,
    t.role_name,
    t.statement_index,
    t.effect,
    coalesce(t.not_principal, false) AS not_principal,
    t.principal_type,
    t.principal,
    t.principal_kind,
    t.principal_account_id,
    c.party_class,
    c.party,
    c.party_account_id,
    c.vendor_source,
    c.third_party,
    coalesce(t.requires_external_id, false) AS requires_external_id,
    t.external_id_fingerprints,
    t.external_id_lengths,
    t.narrowing_conditions,
    coalesce(array_to_string(t.narrowing_conditions, ', '), '') AS narrowed_by,
    t.conditions,
    t.actions
FROM keyed AS t
JOIN party_classes AS c
  ON c.role_account_id = t.account_id
 AND c.party_type = t.party_type
 AND c.party_value = t.party_value
