-- Accounts that share an IP block or a payment id with another account: only these can be linked
-- into an operator cluster (every link needs shared infrastructure), so only their prompts are read.
SELECT DISTINCT account_id FROM keys WHERE ktype = 'ip_block' OR ktype = 'payment'
