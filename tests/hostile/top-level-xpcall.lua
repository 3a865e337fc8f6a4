-- why: item 1 at load.
-- expect: load-error
-- error: instruction limit exceeded
xpcall(error, function() while true do end end)
function process(e) end
