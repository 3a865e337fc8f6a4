-- why: the same coroutine kept across events and closed in a later call.
-- expect: deadletter
-- error: instruction limit exceeded
local pending
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  if pending then
    local co = pending
    pending = nil
    coroutine.close(co)
    while true do end
  end
  pending = coroutine.create(function()
    local guard <close> = setmetatable({}, {__close = function() while true do end end})
    while true do end
  end)
  coroutine.resume(pending)
end
