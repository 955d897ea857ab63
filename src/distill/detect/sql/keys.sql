-- Keys (IP block, payment id, user agent, system prompt) shared by at least two accounts, with
-- how many accounts use each key (its rarity weighs the link it makes).
WITH ak AS (
  SELECT account_id, 'ip_block' AS ktype, ip_block AS k, count(*) AS n FROM events
  WHERE ip_block IS NOT NULL AND ip_block <> '' GROUP BY account_id, ip_block
  UNION ALL
  SELECT account_id, 'payment' AS ktype, payment_id AS k, count(*) AS n FROM events
  WHERE payment_id IS NOT NULL AND payment_id <> '' GROUP BY account_id, payment_id
  UNION ALL
  SELECT account_id, 'user_agent' AS ktype, user_agent AS k, count(*) AS n FROM events
  WHERE user_agent IS NOT NULL AND user_agent <> '' GROUP BY account_id, user_agent
  UNION ALL
  SELECT account_id, 'system_prompt' AS ktype, system_key AS k, count(*) AS n FROM events
  WHERE system_key IS NOT NULL GROUP BY account_id, system_key
),
shared AS (SELECT ktype, k, count(*) AS n_accounts FROM ak GROUP BY ktype, k HAVING count(*) >= 2)
SELECT ak.account_id, ak.ktype, ak.k, ak.n, shared.n_accounts
FROM ak JOIN shared ON ak.ktype = shared.ktype AND ak.k = shared.k
