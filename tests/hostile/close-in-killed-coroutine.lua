-- why: a to-be-closed variable in a coroutine that a kill stopped: coroutine.wrap would close it
-- with the coroutine's hooks still off, and the __close loops.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local f = coroutine.wrap(function()
    local guard <close> = setmetatable({}, {__close = function() while true do end end})
    while true do end
  end)
  f()
end
