-- why: item 2. string.rep("", 2^62) looped 2^62 times in C; an empty result now costs nothing.
-- expect: keep
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  if #string.rep("", 1 << 62) == 0 and #string.rep("", 1 << 62, "") == 0 then
    e.extensions.seen = "yes"
  end
end
