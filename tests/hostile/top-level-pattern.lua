-- why: item 2 at load: backtracking in the top-level chunk.
-- expect: load-error
-- error: instruction limit exceeded
local found = ("a"):rep(100):find(("a*"):rep(12) .. "b")
function process(e) end
