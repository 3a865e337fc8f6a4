-- Runs Lua scripts through the engine's REAL script runtime, via
--   $EVENT_ROUTER_BIN test-script SCRIPT EVENT.json...
-- (EVENT_ROUTER_BIN defaults to build/event-router). That command prints one JSON object per
-- input event, in input order, either as a JSON array or as JSON lines:
--   {"input_id", "verdict": "keep"|"drop"|"deadletter", "event", "routes", "error", "logs"}
-- Specs never re-implement the `er` API in Lua: what they assert is what the daemon does.
local json = require("json")

local engine = { null = json.null, json = json }

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function write_file(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

local function run_shell(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

function engine.binary()
  return os.getenv("EVENT_ROUTER_BIN") or "build/event-router"
end

-- A fresh temporary directory; removed by engine.cleanup() (busted's teardown calls it).
local temp_dirs = {}
function engine.temp_dir()
  local p = assert(io.popen("mktemp -d /tmp/er-spec.XXXXXX"))
  local dir = p:read("*l")
  p:close()
  assert(dir and #dir > 0, "mktemp -d failed")
  temp_dirs[#temp_dirs + 1] = dir
  return dir
end

function engine.cleanup()
  for _, dir in ipairs(temp_dirs) do run_shell("rm -rf " .. shell_quote(dir)) end
  temp_dirs = {}
end

-- A fixture (spec/fixtures/NAME.json) decoded to a fresh table the spec may change.
function engine.fixture(name)
  return json.decode(read_file("spec/fixtures/" .. name .. ".json"))
end

-- All fixture names, sorted.
function engine.fixture_names()
  local p = assert(io.popen("ls spec/fixtures"))
  local names = {}
  for line in p:lines() do
    local name = line:match("^(.*)%.json$")
    if name then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

-- Copies a script into a temporary scripts folder (with scripts/lib beside it, so `require`
-- works), replacing exact text first: replacements is a list of {old, new} pairs and each old
-- text must occur in the script (a spec must not silently test the unmodified script).
-- Returns the copy's path; its file name is the original's.
function engine.variant(script_path, replacements)
  local source = read_file(script_path)
  for _, r in ipairs(replacements or {}) do
    local first, last = source:find(r[1], 1, true)
    assert(first, "engine.variant: text not found in " .. script_path .. ": " .. r[1])
    source = source:sub(1, first - 1) .. r[2] .. source:sub(last + 1)
  end
  local dir = engine.temp_dir()
  local lib = script_path:match("^(.*)/[^/]*$") or "."
  run_shell("cp -r " .. shell_quote(lib .. "/lib") .. " " .. shell_quote(dir .. "/lib") .. " 2>/dev/null")
  local path = dir .. "/" .. (script_path:match("([^/]*)$"))
  write_file(path, source)
  return path
end

-- Writes Lua source as a script named `name` (default "test.lua") in a temporary folder, with
-- optional lib modules (libs: module name -> source, written to lib/<name>.lua). Returns its path.
function engine.script(source, name, libs)
  local dir = engine.temp_dir()
  local path = dir .. "/" .. (name or "test.lua")
  write_file(path, source)
  if libs then
    run_shell("mkdir -p " .. shell_quote(dir .. "/lib"))
    for module, module_source in pairs(libs) do write_file(dir .. "/lib/" .. module .. ".lua", module_source) end
  end
  return path
end

-- A fixture changed by `edit(event)`, with a fresh id so results can be told apart.
local edits = 0
function engine.edited(name, edit)
  local ev = engine.fixture(name)
  edits = edits + 1
  ev.id = string.format("%s-edit-%d", ev.id, edits)
  edit(ev)
  return ev
end

-- The JSON text of a value (keys sorted), to compare data before and after a script.
function engine.encode(v)
  return json.encode(v)
end

local function null_to_nil(v)
  if v == json.null then return nil end
  return v
end

--[[ Runs `script_path` on `events` (a list of event tables or fixture names) in ONE test-script
run, so er.state carries over from one event to the next. Returns a list of results in input
order, each {input_id, verdict, event, routes, error, logs}, with a JSON null routes or error
turned into nil; the event keeps json.null for null values. A raw event string (not a table) is
written as is, for malformed-input specs. ]]
function engine.run(script_path, events)
  local dir = engine.temp_dir()
  local args = {}
  for i, ev in ipairs(events) do
    if type(ev) == "string" and not ev:find("^%s*[{[]") then ev = engine.fixture(ev) end
    local file = string.format("%s/event-%03d.json", dir, i)
    write_file(file, type(ev) == "string" and ev or json.encode(ev))
    args[#args + 1] = shell_quote(file)
  end
  local stderr_file = dir .. "/stderr"
  -- timeout: a hung runtime fails the spec instead of hanging the suite.
  local cmd = string.format("timeout 60 %s test-script %s %s 2>%s", shell_quote(engine.binary()),
    shell_quote(script_path), table.concat(args, " "), shell_quote(stderr_file))
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local stderr = read_file(stderr_file)

  local ok, decoded = pcall(json.decode_all, out)
  if not ok then
    error(string.format("test-script output is not JSON (%s)\ncommand: %s\nstdout: %s\nstderr: %s",
      decoded, cmd, out, stderr), 2)
  end
  -- Either a single JSON array of results, or one result object per line.
  local results = decoded
  if #decoded == 1 and json.is_array(decoded[1]) then results = decoded[1] end
  if #results ~= #events then
    error(string.format("test-script printed %d results for %d events\ncommand: %s\nstdout: %s\nstderr: %s",
      #results, #events, cmd, out, stderr), 2)
  end
  for _, r in ipairs(results) do
    r.routes = null_to_nil(r.routes)
    r.error = null_to_nil(r.error)
    r.event = null_to_nil(r.event)
    r.logs = null_to_nil(r.logs) or {}
    r.stderr = stderr
  end
  return results
end

-- Runs one event; returns its result.
function engine.run_one(script_path, event)
  return engine.run(script_path, { event })[1]
end

-- Walks nested tables: engine.get(t, "data", "Vm", "Name"); nil when a step is missing.
function engine.get(t, ...)
  for _, k in ipairs({ ... }) do
    if type(t) ~= "table" or t == json.null then return nil end
    t = t[k]
  end
  return t
end

-- A CloudEvent attribute or extension of a result's event: structured mode puts extensions at
-- the top level; an "extensions" object is accepted too.
function engine.attr(event, name)
  if type(event) ~= "table" then return nil end
  local v = event[name]
  if v == nil then v = engine.get(event, "extensions", name) end
  return null_to_nil(v)
end

-- The list of log messages, as strings, whatever shape the engine gives each log entry.
function engine.log_lines(result)
  local lines = {}
  for _, entry in ipairs(result.logs or {}) do
    if type(entry) == "table" then
      lines[#lines + 1] = json.encode(entry)
    else
      lines[#lines + 1] = tostring(entry)
    end
  end
  return lines
end

return engine
