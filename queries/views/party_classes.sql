-- party_classes: who a trust principal or an observed caller is, seen from a role's account (internal, own-org, aws-service, vendor, unknown-account, external-idp, public)
--
-- The one place where "who is a third party" is decided (DOMAIN.md section 5). trust_classified
-- and session_chains join it on (role_account_id, party_type, party_value), where
--   party_type  'account' | 'service' | 'idp' | 'public' | 'deleted' | 'other'
--   party_value the 12-digit account, the service principal, the identity provider, '*', or
--               the principal as written.
-- Rows exist for every key that appears in role_trust or sessions; missing values are '' so
-- that keys compare with `=`.
--
-- Classes, first match wins:
--   public            `*` (or an Allow with NotPrincipal); conditions may still narrow it
--   aws-service       a service principal, an AWSService caller, or a vendor-list account
--                     marked `type: aws`
--   external-idp      a SAML, OIDC or web-identity provider (the person behind it is unknown)
--   deleted-principal a unique id (AROA…/AIDA…): IAM replaced a deleted principal's ARN
--   internal          the role's own account
--   own-org           one of your accounts (own_set: own_accounts, org_accounts)
--   vendor            an account of the vendor list (name and source URL kept: a match is
--                     "likely", the URL is the evidence)
--   unknown-account   any other account
--   other             anything else (kept for review)
-- third_party is true for vendor, unknown-account, external-idp and public.
WITH
vendor_accounts AS (
    SELECT account_id, name, source, aws_owned
    FROM (
        SELECT
            *,
            ROW_NUMBER() OVER (
                PARTITION BY account_id
                ORDER BY enabled DESC, aws_owned DESC, name, source
            ) AS pick
        FROM vendors
    )
    WHERE pick = 1
),
keys AS (
    SELECT DISTINCT
        account_id AS role_account_id,
        party_type,
        party_value
    FROM trust_keys
    UNION
    SELECT DISTINCT
        coalesce(role_account_id, '') AS role_account_id,
        CASE
            WHEN caller_identity_type = 'AWSService' THEN 'service'
            WHEN caller_identity_type IN ('SAMLUser', 'WebIdentityUser') THEN 'idp'
            WHEN caller_account_id IS NOT NULL THEN 'account'
            ELSE 'other'
        END AS party_type,
        CASE
            WHEN caller_identity_type = 'AWSService' THEN coalesce(invoked_by, '')
            WHEN caller_identity_type IN ('SAMLUser', 'WebIdentityUser')
                THEN coalesce(identity_provider, '')
            WHEN caller_account_id IS NOT NULL THEN coalesce(caller_account_id, '')
            ELSE coalesce(caller_identity_type, '')
        END AS party_value
    FROM sessions_all
),
classified AS (
    SELECT
        k.role_account_id,
        k.party_type,
        k.party_value,
        CASE
            WHEN k.party_type = 'public' THEN 'public'
            WHEN k.party_type = 'service' THEN 'aws-service'
            WHEN k.party_type = 'idp' THEN 'external-idp'
            WHEN k.party_type = 'deleted' THEN 'deleted-principal'
            WHEN k.party_type <> 'account' THEN 'other'
            WHEN k.party_value = k.role_account_id THEN 'internal'
            WHEN o.account_id IS NOT NULL THEN 'own-org'
            WHEN v.aws_owned THEN 'aws-service'
            WHEN v.account_id IS NOT NULL THEN 'vendor'
            ELSE 'unknown-account'
        END AS party_class,
        CASE WHEN k.party_type = 'account' THEN k.party_value END AS party_account_id,
        v.name AS vendor_name,
        v.source AS vendor_source
    FROM keys AS k
    LEFT JOIN own_set AS o
      ON k.party_type = 'account' AND o.account_id = k.party_value
    LEFT JOIN vendor_accounts AS v
      ON k.party_type = 'account' AND v.account_id = k.party_value
)
SELECT
    role_account_id,
    party_type,
    party_value,
    party_class,
    -- The name people know the party by: the vendor's name (one row per vendor, whatever
    -- account it used), else the account, service, provider or '*'.
    -- (coalesce rather than `WHEN vendor_name IS NOT NULL THEN vendor_name`: DataFusion 55
    -- infers a different nullability for the latter in logical and physical plans.)
    CASE
        WHEN party_class IN ('vendor', 'aws-service') THEN coalesce(vendor_name, party_value)
        ELSE party_value
    END AS party,
    party_account_id,
    CASE WHEN party_class IN ('vendor', 'aws-service') THEN vendor_source END AS vendor_source,
    party_class IN ('vendor', 'unknown-account', 'external-idp', 'public') AS third_party
FROM classified
