-- A small JSON codec for the specs (Lua 5.1-5.4): decodes what `event-router test-script`
-- prints and encodes the sample events the specs hand it. JSON null decodes to json.null (not
-- nil) so a spec can tell "field is null" from "field is absent"; arrays decode to tables marked
-- with json.array so they re-encode as arrays even when empty.
local json = {}

json.null = setmetatable({}, { __tostring = function() return "json.null" end })
local array_mt = { __jsontype = "array" }

function json.array(t)
  return setmetatable(t or {}, array_mt)
end

function json.is_array(t)
  return type(t) == "table" and getmetatable(t) == array_mt
end

-- Decoding -------------------------------------------------------------------------------------

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
    0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local function fail(s, pos, what)
  local line = select(2, s:sub(1, pos):gsub("\n", "")) + 1
  error(string.format("json: %s at line %d (byte %d) near %q", what, line, pos, s:sub(pos, pos + 20)), 0)
end

local function skip_ws(s, pos)
  return (s:find("[^ \t\r\n]", pos)) or (#s + 1)
end

local decode_value

local function decode_string(s, pos)
  local parts, i = {}, pos + 1
  while true do
    local j = s:find('["\\]', i)
    if not j then fail(s, pos, "unterminated string") end
    parts[#parts + 1] = s:sub(i, j - 1)
    if s:sub(j, j) == '"' then return table.concat(parts), j + 1 end
    local c = s:sub(j + 1, j + 1)
    if c == "u" then
      local cp = tonumber(s:sub(j + 2, j + 5), 16)
      if not cp then fail(s, j, "bad \\u escape") end
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF and s:sub(i, i + 1) == "\\u" then
        local lo = tonumber(s:sub(i + 2, i + 5), 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          i = i + 6
        end
      end
      parts[#parts + 1] = utf8_char(cp)
    elseif escapes[c] then
      parts[#parts + 1] = escapes[c]
      i = j + 2
    else
      fail(s, j, "bad escape")
    end
  end
end

local function decode_array(s, pos)
  local out, n = json.array({}), 0
  pos = skip_ws(s, pos + 1)
  if s:sub(pos, pos) == "]" then return out, pos + 1 end
  while true do
    local v
    v, pos = decode_value(s, pos)
    n = n + 1
    out[n] = v
    pos = skip_ws(s, pos)
    local c = s:sub(pos, pos)
    if c == "]" then return out, pos + 1 end
    if c ~= "," then fail(s, pos, "expected ',' or ']'") end
    pos = skip_ws(s, pos + 1)
  end
end

local function decode_object(s, pos)
  local out = {}
  pos = skip_ws(s, pos + 1)
  if s:sub(pos, pos) == "}" then return out, pos + 1 end
  while true do
    if s:sub(pos, pos) ~= '"' then fail(s, pos, "expected a string key") end
    local k
    k, pos = decode_string(s, pos)
    pos = skip_ws(s, pos)
    if s:sub(pos, pos) ~= ":" then fail(s, pos, "expected ':'") end
    local v
    v, pos = decode_value(s, skip_ws(s, pos + 1))
    out[k] = v
    pos = skip_ws(s, pos)
    local c = s:sub(pos, pos)
    if c == "}" then return out, pos + 1 end
    if c ~= "," then fail(s, pos, "expected ',' or '}'") end
    pos = skip_ws(s, pos + 1)
  end
end

local literals = { ["true"] = true, ["false"] = false }

decode_value = function(s, pos)
  local c = s:sub(pos, pos)
  if c == "{" then return decode_object(s, pos) end
  if c == "[" then return decode_array(s, pos) end
  if c == '"' then return decode_string(s, pos) end
  local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if num and #num > 0 then
    local v = tonumber(num)
    if v == nil then fail(s, pos, "bad number") end
    return v, pos + #num
  end
  for word, v in pairs(literals) do
    if s:sub(pos, pos + #word - 1) == word then return v, pos + #word end
  end
  if s:sub(pos, pos + 3) == "null" then return json.null, pos + 4 end
  fail(s, pos, "unexpected character")
end

-- Decodes one JSON text.
function json.decode(s)
  local v, pos = decode_value(s, skip_ws(s, 1))
  pos = skip_ws(s, pos)
  if pos <= #s then fail(s, pos, "trailing characters") end
  return v
end

-- Decodes a stream of JSON texts separated by whitespace (e.g. JSON lines); returns an array.
function json.decode_all(s)
  local out, pos = {}, skip_ws(s, 1)
  while pos <= #s do
    local v
    v, pos = decode_value(s, pos)
    out[#out + 1] = v
    pos = skip_ws(s, pos)
  end
  return out
end

-- Encoding -------------------------------------------------------------------------------------

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local named = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
    return named[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function is_sequence(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return n > 0
end

function json.encode(v)
  local tv = type(v)
  if v == json.null or v == nil then return "null" end
  if tv == "boolean" then return tostring(v) end
  if tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("json: cannot encode " .. tostring(v)) end
    if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if tv == "string" then return encode_string(v) end
  if tv == "table" then
    local parts = {}
    if json.is_array(v) or is_sequence(v) then
      for i = 1, #v do parts[i] = json.encode(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys) -- stable output makes failing specs easier to read
    for i, k in ipairs(keys) do parts[i] = encode_string(k) .. ":" .. json.encode(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  error("json: cannot encode a " .. tv)
end

-- A deep copy, so a spec can change a fixture without affecting the others.
function json.copy(v)
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = json.copy(x) end
  return setmetatable(out, getmetatable(v))
end

return json
