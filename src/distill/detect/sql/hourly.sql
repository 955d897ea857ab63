-- Requests per hour of candidate accounts (co-activity: accounts that start and stop together).
SELECT c.account_id, floor(e.t / 3600) AS h, count(*) AS n
FROM events e JOIN candidates c ON e.account_id = c.account_id
GROUP BY c.account_id, floor(e.t / 3600)
