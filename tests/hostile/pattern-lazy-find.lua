-- why: item 2. Lazy quantifiers: polynomial backtracking of high degree.
-- expect: deadletter
-- error: instruction limit exceeded
-- line: 6
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end local s = ("a"):rep(2000):find(".-.-.-.-b")
end
