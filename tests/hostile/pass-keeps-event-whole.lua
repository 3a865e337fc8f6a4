-- why: a failed script's changes are never applied: data, extensions, routes and attributes.
-- expect: pass
-- error: boom
-- line: 12
on_error = "pass"
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  e.subject = "tampered"
  e.data = {tampered = true}
  e.extensions.tampered = "yes"
  er.route(e, "elsewhere")
  error("boom")
end
