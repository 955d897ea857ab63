-- Every account's IP blocks, payment ids, user agents and system prompts (matched against shared indicators).
SELECT DISTINCT account_id, 'ip_block' AS ktype, ip_block AS k FROM events WHERE ip_block IS NOT NULL AND ip_block <> ''
UNION ALL
SELECT DISTINCT account_id, 'payment' AS ktype, payment_id AS k FROM events WHERE payment_id IS NOT NULL AND payment_id <> ''
UNION ALL
SELECT DISTINCT account_id, 'user_agent' AS ktype, user_agent AS k FROM events WHERE user_agent IS NOT NULL AND user_agent <> ''
UNION ALL
SELECT DISTINCT account_id, 'system_prompt' AS ktype, system_key AS k FROM events WHERE system_key IS NOT NULL
