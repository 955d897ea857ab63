-- Models first seen more than a day after the logs start: launches inside the window.
SELECT m.model, m.first_t, m.n
FROM (SELECT model, min(t) AS first_t, count(*) AS n FROM events GROUP BY model) m
CROSS JOIN (SELECT min(t) AS t0 FROM events) g
WHERE m.first_t > g.t0 + 86400
