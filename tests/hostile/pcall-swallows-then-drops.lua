-- why: item 4. A caught kill followed by "return false": the script failed, so its on_error
-- (drop here) decides, not its return value.
-- expect: drop
-- error: instruction limit exceeded
on_error = "drop"
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  pcall(function() while true do end end)
  return false
end
