-- trust_keys: role_trust with the (party_type, party_value) key that party_classes classifies
--
-- One place for how a trust principal names a party: `*` is public, a Service or Federated
-- principal is itself, a unique id left by a deleted principal is kept as such, and anything
-- with an account id (the account, its root, a role, user or session in it) is that account.
SELECT
    *,
    CASE
        WHEN principal_kind = 'public' THEN 'public'
        WHEN principal_type = 'Service' THEN 'service'
        WHEN principal_type = 'Federated' THEN 'idp'
        WHEN principal_kind = 'unique_id' THEN 'deleted'
        WHEN principal_account_id IS NOT NULL THEN 'account'
        ELSE 'other'
    END AS party_type,
    CASE
        WHEN principal_kind = 'public' THEN '*'
        WHEN principal_type IN ('Service', 'Federated') THEN coalesce(principal, '')
        WHEN principal_kind = 'unique_id' THEN coalesce(principal, '')
        WHEN principal_account_id IS NOT NULL THEN coalesce(principal_account_id, '')
        ELSE coalesce(principal, '')
    END AS party_value
FROM role_trust
