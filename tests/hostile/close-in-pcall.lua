-- why: a __close that loops while a kill unwinds through pcall.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  pcall(function()
    local guard <close> = setmetatable({}, {__close = function() while true do end end})
    while true do end
  end)
end
