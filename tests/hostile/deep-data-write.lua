-- why: item 5. Deep data changed by a script is written back (as deep as the intake accepts).
-- expect: keep
-- data: deep
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local node = e.data
  while type(node[1]) == "table" do node = node[1] end
  node[1] = "changed"
  e.extensions.seen = "yes"
end
