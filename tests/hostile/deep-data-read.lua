-- why: item 5. A benign script that only reads deeply nested data must not fail.
-- expect: keep
-- data: deep
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local depth, node = 0, e.data
  while type(node) == "table" do depth, node = depth + 1, node[1] end
  if depth >= 990 then e.extensions.seen = "yes" end
end
