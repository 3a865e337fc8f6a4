-- why: item 2. The same backtracking through gsub, with a function replacement.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local s = ("a"):rep(3000):gsub(".-.-.-b", function() return "x" end)
end
