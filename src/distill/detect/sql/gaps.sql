-- Timing regularity: mean and spread of the gaps between an account's consecutive requests.
SELECT account_id, count(*) AS n_gaps, avg(gap) AS mean_gap, stddev_samp(gap) AS sd_gap
FROM (
  SELECT account_id, CAST(t - lag(t) OVER (PARTITION BY account_id ORDER BY t) AS DOUBLE) AS gap
  FROM events
) x
WHERE gap IS NOT NULL
GROUP BY account_id
