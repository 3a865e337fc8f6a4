-- why: item 6. An extension "a\0b" became "a".
-- expect: deadletter
-- error: NUL
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  e.extensions.label = "a\0b"
end
