-- Every IP block seen, with how many accounts used it (the relay list is matched against these).
SELECT ip_block, count(DISTINCT account_id) AS n_accounts FROM events
WHERE ip_block IS NOT NULL AND ip_block <> '' GROUP BY ip_block
