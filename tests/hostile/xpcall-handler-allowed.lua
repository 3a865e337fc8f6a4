-- why: a message handler still works for the script's own errors (not a kill).
-- expect: keep
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local ok, msg = xpcall(error, function(m) return "handled: " .. tostring(m) end, "boom")
  if not ok and msg == "handled: boom" then e.extensions.seen = "yes" end
end
