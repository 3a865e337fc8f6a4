-- The `er` API and the sandbox of /tmp/lua_api.md (docs: scripts/README.md), exercised through
-- the engine's real runtime with `event-router test-script`.
local engine = require("engine")

-- A minimal vCenter-shaped event whose data has every JSON kind in it.
local function sample(id)
  local ev = engine.fixture("VmPoweredOnEvent")
  ev.id = id or "api-sample"
  ev.data.Empty = engine.json.array({})
  ev.data.EmptyObject = {}
  ev.data.Float = 1.5
  ev.data.Negative = -42
  ev.data.Unicode = "caf\195\169 \240\159\152\128" -- "café 😀" (busted may run on Lua 5.1/5.2)
  ev.data.List = engine.json.array({ 1, "two", engine.null, false })
  return ev
end

local function run(source, events, name, libs)
  return engine.run(engine.script(source, name, libs), events or { sample() })
end

describe("er API via test-script", function()
  teardown(engine.cleanup)

  describe("process verdicts", function()
    it("keeps on nil, true or the event, drops on false", function()
      local r = run([[
        function process(event)
          if event.id == "a" then return nil end
          if event.id == "b" then return true end
          if event.id == "c" then return event end
          return false
        end]], { sample("a"), sample("b"), sample("c"), sample("d") })
      assert.same({ "keep", "keep", "keep", "drop" },
        { r[1].verdict, r[2].verdict, r[3].verdict, r[4].verdict })
      assert.same({ "a", "b", "c", "d" }, { r[1].input_id, r[2].input_id, r[3].input_id, r[4].input_id })
    end)

    it("keeps the event unchanged when the script changes nothing", function()
      local ev = sample()
      local r = run("function process(event) end", { ev })[1]
      assert.equal(engine.encode(ev.data), engine.encode(r.event.data))
      for _, attr in ipairs({ "specversion", "id", "source", "type", "subject", "time", "datacontenttype" }) do
        assert.equal(ev[attr], r.event[attr])
      end
    end)
  end)

  describe("event changes", function()
    it("applies attribute, extension and data changes; nil removes an optional attribute", function()
      local r = run([[
        function process(event)
          event.subject = "Changed"
          event.time = nil
          event.extensions = event.extensions or {}
          event.extensions.myext = "value"
          event.data.Vm.Name = "renamed"
          event.data.Added = { Nested = true }
          event.data.Host = er.json.null
        end]])[1]
      assert.equal("keep", r.verdict)
      assert.is_nil(r.error)
      assert.equal("Changed", r.event.subject)
      assert.is_nil(r.event.time)
      assert.equal("value", engine.attr(r.event, "myext"))
      assert.equal("renamed", r.event.data.Vm.Name)
      assert.is_true(r.event.data.Added.Nested)
      assert.equal(engine.null, r.event.data.Host)
    end)

    it("treats removing a required attribute as a script error", function()
      local r = run("function process(event) event.id = nil end")[1]
      assert.equal("deadletter", r.verdict)
      assert.is_string(r.error)
    end)

    it("gives non-JSON data as a string and absent data as nil", function()
      local text = sample("text")
      text.datacontenttype, text.data = "text/plain", "plain words"
      local none = sample("none")
      none.data = nil
      local r = run([[
        function process(event)
          event.extensions = event.extensions or {}
          event.extensions.datatype = type(event.data)
        end]], { text, none, sample("json") })
      assert.equal("string", engine.attr(r[1].event, "datatype"))
      assert.equal("plain words", r[1].event.data)
      assert.equal("nil", engine.attr(r[2].event, "datatype"))
      assert.equal("table", engine.attr(r[3].event, "datatype"))
    end)
  end)

  describe("er.json", function()
    it("round-trips data: nulls, empty arrays and objects, floats, unicode", function()
      local ev = sample()
      local r = run([[
        function process(event)
          event.data = er.json.decode(er.json.encode(event.data))
        end]], { ev })[1]
      assert.is_nil(r.error)
      assert.equal(engine.encode(ev.data), engine.encode(r.event.data))
      assert.is_true(engine.json.is_array(r.event.data.Empty))
      assert.is_false(engine.json.is_array(r.event.data.EmptyObject))
    end)

    it("has a null sentinel that data nulls equal and that encodes as null", function()
      local r = run([[
        function process(event)
          event.extensions = event.extensions or {}
          event.extensions.dsisnull = tostring(event.data.Ds == er.json.null)
          event.extensions.vmisnull = tostring(event.data.Vm == er.json.null)
          event.extensions.encoded = er.json.encode({ a = er.json.null, b = er.json.array({}) })
          event.extensions.decoded = tostring(er.json.decode("null") == er.json.null)
        end]])[1]
      assert.is_nil(r.error)
      assert.equal("true", engine.attr(r.event, "dsisnull"))
      assert.equal("false", engine.attr(r.event, "vmisnull"))
      assert.same({ a = engine.null, b = {} }, engine.json.decode(engine.attr(r.event, "encoded")))
      assert.is_true(engine.json.is_array(engine.json.decode(engine.attr(r.event, "encoded")).b))
      assert.equal("true", engine.attr(r.event, "decoded"))
    end)

    it("reports invalid JSON as a script error with file:line", function()
      local r = run("function process(event)\n  er.json.decode('{not json')\nend", nil, "badjson.lua")[1]
      assert.equal("deadletter", r.verdict)
      assert.matches("badjson%.lua:%d+:", r.error)
    end)
  end)

  describe("er.state", function()
    it("persists between events of one run", function()
      local r = run([[
        er.state.n = 0
        function process(event)
          er.state.n = er.state.n + 1
          event.extensions = event.extensions or {}
          event.extensions.seq = tostring(er.state.n)
        end]], { sample("1"), sample("2"), sample("3") })
      assert.same({ "1", "2", "3" },
        { engine.attr(r[1].event, "seq"), engine.attr(r[2].event, "seq"), engine.attr(r[3].event, "seq") })
    end)
  end)

  describe("er.route", function()
    it("appends processor names to event.routes", function()
      local r = run([[
        function process(event)
          if event.id == "routed" then
            er.route(event, "a", "b")
            er.route(event, "c")
          end
        end]], { sample("routed"), sample("plain") })
      assert.same({ "a", "b", "c" }, r[1].routes)
      assert.is_nil(r[2].routes)
    end)

    it("accepts event.routes set directly", function()
      local r = run("function process(event) event.routes = { 'x' } end")[1]
      assert.same({ "x" }, r.routes)
    end)
  end)

  describe("er.pattern", function()
    it("compiles once at load; :match and :explain see the event as structured JSON", function()
      local on = sample("on")
      local off = sample("off")
      off.subject = "VmPoweredOffEvent"
      local r = run([[
        local power = er.pattern('{"subject": ["VmPoweredOnEvent"], "vsphereapiversion": [{"exists": true}], "data": {"Float": [{"numeric": [">", 1]}]}}')
        local by_table = er.pattern({ source = { { prefix = "https://" } }, data = { Vm = { Name = { { wildcard = "*" } } } } })
        function process(event)
          event.extensions = event.extensions or {}
          event.extensions.vsphereapiversion = "8.0"
          local ok, why = power:explain(event)
          event.extensions.match = tostring(power:match(event))
          event.extensions.why = why or ""
          event.extensions.table = tostring(by_table:match(event))
        end]], { on, off })
      assert.equal("true", engine.attr(r[1].event, "match"))
      assert.equal("", engine.attr(r[1].event, "why"))
      assert.equal("true", engine.attr(r[1].event, "table"))
      assert.equal("false", engine.attr(r[2].event, "match"))
      assert.equal('subject: "VmPoweredOffEvent" does not match', engine.attr(r[2].event, "why"))
    end)

    it("sees the script's own changes, and matches plain tables as their JSON", function()
      local r = run([[
        local p = er.pattern('{"subject": ["Renamed"], "data": {"Vm": {"Name": ["changed"]}}}')
        local q = er.pattern('{"a": {"b": [1, 2]}}')
        function process(event)
          local before = p:match(event)
          event.subject = "Renamed"
          event.data.Vm.Name = "changed"
          event.extensions = event.extensions or {}
          event.extensions.before = tostring(before)
          event.extensions.after = tostring(p:match(event))
          event.extensions.plain = tostring(q:match(er.json.decode('{"a": [{"b": 3}, {"b": 2}]}')))
        end]])[1]
      assert.equal("false", engine.attr(r.event, "before"))
      assert.equal("true", engine.attr(r.event, "after"))
      assert.equal("true", engine.attr(r.event, "plain"))
    end)

    it("a bad pattern fails the load with the script's file:line and EventBridge's reason", function()
      local ok, err = pcall(run, "local p = er.pattern('{\"a\": [{\"prefix\": 1}]}')\nfunction process(event) end",
        nil, "bad-pattern.lua")
      assert.is_false(ok)
      assert.matches("bad%-pattern%.lua:1: er%.pattern: a%[0%]%.prefix: prefix match pattern must be a string",
        err)
    end)

    it("is an error inside process when used wrongly, not a crash", function()
      local r = run([[
        local p = er.pattern('{"a": ["x"]}')
        function process(event) return p.match(nil, event) end]], nil, "wrong.lua")[1]
      assert.equal("deadletter", r.verdict)
      assert.matches("wrong%.lua:%d+:", r.error)
    end)
  end)

  describe("er.counter, er.log, er.time, er.monotonic, er.script", function()
    it("counts without error", function()
      local r = run([[
        function process(event)
          er.counter("seen")
          er.counter("bytes", 5)
        end]])[1]
      assert.equal("keep", r.verdict)
      assert.is_nil(r.error)
    end)

    it("logs formatted messages", function()
      local r = run([[
        function process(event)
          er.log.info("hello %s %d", "world", 42)
          er.log.warn("careful")
        end]])[1]
      local all = table.concat(engine.log_lines(r), "\n")
      assert.matches("hello world 42", all, 1, true)
      assert.matches("careful", all, 1, true)
    end)

    it("gives the time, a monotonic clock and the script's file name", function()
      local before = os.time()
      local r = run([[
        function process(event)
          event.extensions = event.extensions or {}
          event.extensions.now = string.format("%.0f", er.time())
          event.extensions.mono = tostring(type(er.monotonic()) == "number" and er.monotonic() >= 0)
          event.extensions.script = er.script
        end]], nil, "named-script.lua")[1]
      assert.is_true(math.abs(tonumber(engine.attr(r.event, "now")) - before) < 60)
      assert.equal("true", engine.attr(r.event, "mono"))
      assert.equal("named-script.lua", engine.attr(r.event, "script"))
    end)
  end)

  describe("require", function()
    it("loads modules from the scripts folder's lib/", function()
      local r = run([[
        local greet = require "greet"
        function process(event) event.subject = greet.hello(event.subject) end]],
        nil, "test.lua", { greet = "return { hello = function(s) return 'hello ' .. s end }" })[1]
      assert.is_nil(r.error)
      assert.equal("hello VmPoweredOnEvent", r.event.subject)
    end)
  end)

  describe("errors and on_error", function()
    local failing = "function process(event)\n  event.subject = 'half-changed'\n  error('boom')\nend"

    it("dead-letters by default, with file:line", function()
      local r = run(failing, nil, "fails.lua")[1]
      assert.equal("deadletter", r.verdict)
      assert.matches("fails.lua:3:", r.error, 1, true)
      assert.matches("boom", r.error, 1, true)
    end)

    it("passes the event on unchanged with on_error = 'pass'", function()
      local r = run('on_error = "pass"\n' .. failing)[1]
      assert.equal("keep", r.verdict)
      assert.equal("VmPoweredOnEvent", r.event.subject)
    end)

    it("drops with on_error = 'drop'", function()
      assert.equal("drop", run('on_error = "drop"\n' .. failing)[1].verdict)
    end)

    it("stops a runaway script even if it pcalls the loop, and goes on with the next event", function()
      local r = run([[
        function process(event)
          if event.id == "loop" then pcall(function() while true do end end) end
        end]], { sample("loop"), sample("fine") })
      assert.equal("deadletter", r[1].verdict)
      assert.is_string(r[1].error)
      assert.equal("keep", r[2].verdict)
      assert.is_nil(r[2].error)
    end)
  end)

  describe("sandbox", function()
    it("has no io, no os.execute, no dofile, and load only of text", function()
      local r = run([[
        local function missing(get)
          local ok, v = pcall(get)
          return (not ok) or v == nil
        end
        function process(event)
          event.extensions = event.extensions or {}
          event.extensions.noio = tostring(missing(function() return io end))
          event.extensions.noexecute = tostring(missing(function() return os.execute end))
          event.extensions.nodofile = tostring(missing(function() return dofile end))
          local ok, chunk = pcall(function() return load(string.dump(function() end)) end)
          event.extensions.nobinary = tostring((not ok) or chunk == nil)
          event.extensions.ostime = type(os.time())
        end]])[1]
      assert.is_nil(r.error)
      for _, ext in ipairs({ "noio", "noexecute", "nodofile", "nobinary" }) do
        assert.equal("true", engine.attr(r.event, ext), ext)
      end
      assert.equal("number", engine.attr(r.event, "ostime"))
    end)
  end)
end)
