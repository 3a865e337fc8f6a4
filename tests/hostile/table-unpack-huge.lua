-- why: table.unpack of a million nils: refused (too many results), not a freeze.
-- expect: deadletter
-- error: too many results
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local n = select("#", table.unpack({}, 1, 1 << 40))
end
