-- activity_in_scope: third_party_activity narrowed to the report filters in report_params
--
-- --vendor (name or account, also the chain's root caller), --role (ARN or name), --session
-- (AssumeRole eventID, temporary key or session name, also of the chain's root), --access-key,
-- --source-ip and the --from/--to window; a filter left out matches everything.
SELECT a.*
FROM third_party_activity AS a
CROSS JOIN report_params AS p
WHERE (p.vendor IS NULL
       OR lower(a.party) = lower(p.vendor)
       OR a.party_account_id = p.vendor
       OR a.root_caller_account_id = p.vendor)
  AND (p.role IS NULL OR a.role_arn = p.role OR a.role_name = p.role)
  AND (p.session IS NULL
       OR p.session IN (a.session_event_id, a.session_key, a.role_session_name,
                        a.root_session_event_id, a.root_session_key))
  AND (p.access_key IS NULL OR a.access_key_id = p.access_key OR a.session_key = p.access_key)
  AND (p.source_ip IS NULL OR coalesce(a.source_ip, a.session_source_ip) = p.source_ip)
  AND (p.from_time IS NULL OR coalesce(a.event_time, a.session_start) >= p.from_time)
  AND (p.to_time IS NULL OR coalesce(a.event_time, a.session_start) < p.to_time)
