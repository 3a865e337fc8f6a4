-- why: item 2. string.match with captures and back-references on a long subject.
-- expect: deadletter
-- error: instruction limit exceeded
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local s = ("ab"):rep(5000)
  local m = s:match("^(.-)%1(.-)%2(.-)%3x")
end
