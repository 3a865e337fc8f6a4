-- why: busy-waiting on the clock.
-- expect: deadletter
-- error: limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local t = os.clock() while os.clock() - t < 3600 do end
end
