-- S7: think time between a response and the next request on the same connection, uniform
-- 5..15 ms (mean 10 ms; wrk delays in whole milliseconds). With C connections the offered rate is
-- about C / (10 ms + latency); random delays keep the connections out of phase, so arrivals are
-- spread out instead of coming in bursts of C. bench/scenarios/s7-fixed-rate-latency.ts picks C.
function delay()
  return math.random(5, 15)
end
