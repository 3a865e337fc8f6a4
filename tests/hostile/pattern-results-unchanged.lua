-- why: the counted matcher answers as Lua's own (a few results checked).
-- expect: keep
function process(e)
  if e.type ~= "hostile" then e.extensions.seen = "yes" return end
  local ok = ("hello world"):find("o w") == 5
    and select(2, ("hello world"):gsub("o", "0")) == 2
    and ("key=value"):match("^(%w+)=(%w+)$") == "key"
    and ("THE (quick) fox"):find("%((%a+)%)") == 5
    and ("f(a(b)c)"):match("%b()") == "(a(b)c)"
    and ("THE (quick) fox"):gsub("%f[%a]%a+", string.lower) == "the (quick) fox"
    and ("x"):rep(3, ",") == "x,x,x"
    and table.concat({1, 2, 3}, "-") == "1-2-3"
  local words = {}
  for w in ("one two  three"):gmatch("%a+") do words[#words + 1] = w end
  local t = {5, 2, 4, 1, 3} table.sort(t) table.insert(t, 1, 0) table.remove(t)
  ok = ok and #words == 3 and table.concat(t, ",") == "0,1,2,3,4"
    and table.concat(table.move({1, 2, 3}, 1, 3, 2, {}), ",", 2, 4) == "1,2,3"
    and select("#", table.unpack({1, 2, 3})) == 3
  if ok then e.extensions.seen = "yes" end
end
