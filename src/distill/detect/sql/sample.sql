-- About {per_account} prompts per linkable account, chosen by a hash of the request id (no sort).
SELECT v.account_id, v.request_id, v.prompt, v.system_prompt
FROM valid v
JOIN accounts a ON v.account_id = a.account_id
JOIN linkable l ON v.account_id = l.account_id
WHERE a.n_req <= {per_account} OR pmod(hash(v.request_id), a.n_req) < {per_account}
