-- why: an error object whose __tostring loops: the engine never calls it.
-- expect: deadletter
-- error: error object is a table value
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  error(setmetatable({}, {__tostring = function() while true do end end}))
end
