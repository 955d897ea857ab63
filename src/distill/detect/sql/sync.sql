-- Activity of candidate communities per five-minute window (candidates: account_id → comp, from Python).
SELECT c.comp, floor(e.t / 300) AS bucket, count(DISTINCT e.account_id) AS active, count(*) AS n
FROM events e JOIN candidates c ON e.account_id = c.account_id
GROUP BY c.comp, floor(e.t / 300)
