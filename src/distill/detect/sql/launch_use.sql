-- For each account: requests in the 24 h after each launch, and how many of them went to the new model.
SELECT e.account_id,
  sum(CASE WHEN e.t >= l.first_t AND e.t < l.first_t + 86400 THEN 1 ELSE 0 END) AS n_launch_day,
  sum(CASE WHEN e.t >= l.first_t AND e.t < l.first_t + 86400 AND e.model = l.model THEN 1 ELSE 0 END)
    AS n_launch_day_new,
  sum(CASE WHEN e.t >= l.first_t - 86400 AND e.t < l.first_t THEN 1 ELSE 0 END) AS n_day_before
FROM events e CROSS JOIN launches l
GROUP BY e.account_id
