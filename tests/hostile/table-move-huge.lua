-- why: item 2. table.move over 2^62 elements of an empty table: no memory, only time.
-- expect: deadletter
-- error: instruction limit exceeded
-- line: 7
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  table.move({}, 1, 1 << 62, 1, {})
end
