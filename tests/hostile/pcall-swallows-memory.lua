-- why: item 4. A memory error caught by pcall; process returns normally.
-- expect: pass
-- error: memory limit exceeded
on_error = "pass"
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  e.subject = "tampered"
  local chunk = ("x"):rep(1024)
  pcall(function() local t = {} while true do t[#t + 1] = chunk:rep(64) .. #t end end)
  return nil
end
