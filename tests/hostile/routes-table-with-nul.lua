-- why: item 6. The same through event.routes directly.
-- expect: deadletter
-- error: NUL
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  e.routes = er.json.array({"main\0evil"})
end
