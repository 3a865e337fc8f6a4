-- why: item 6. er.route(e, "main\0evil") went to "main".
-- expect: deadletter
-- error: NUL
-- line: 7
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  er.route(e, "main\0evil")
end
