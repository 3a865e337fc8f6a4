-- why: item 2 at load: a top-level chunk that never ends (SIGHUP froze the engine).
-- expect: load-error
-- error: instruction limit exceeded
-- line: 5
while true do end
function process(e) end
