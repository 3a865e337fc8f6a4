-- why: item 7. er.counter(n, 0/0) rendered "-nan" in /metrics.
-- expect: deadletter
-- error: finite number
-- line: 7
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  er.counter("hits", 0/0)
end
