-- own_set: the accounts that are yours: own_accounts (given, or inferred from the lake less the accounts of the vendor list) and the accounts of your organization (org_accounts)
--
-- When own accounts are not given they are inferred from the lake (the accounts whose trails
-- were ingested); an account of the vendor list is then not counted as yours, so ingesting a
-- vendor's trail beside yours does not make the vendor "own".
SELECT o.account_id
FROM own_accounts AS o
CROSS JOIN report_params AS p
WHERE p.own_accounts_given
   OR NOT EXISTS (
          SELECT 1 FROM vendors AS v
          WHERE v.account_id = o.account_id AND NOT v.aws_owned
      )
UNION
SELECT account_id FROM org_accounts
