-- why: table.insert shifts #t elements in C; a __len of 2^62 makes that forever.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  table.insert(setmetatable({}, {__len = function() return 1 << 62 end}), 1, "x")
end
