local engine = require("engine")
local SCRIPT = "scripts/30-collapse-storms.disabled.lua"

-- 2026-11-25T18:00:00Z, the base of the events' CreatedTime below.
local BASE = 1795629600

local function at(seconds)
  return os.date("!%Y-%m-%dT%H:%M:%S", BASE + seconds) .. ".000Z"
end

-- A fixture created `seconds` after BASE, optionally about another VM.
local function event(name, seconds, vm_moref)
  return engine.edited(name, function(ev)
    ev.data.CreatedTime = at(seconds)
    if vm_moref then ev.data.Vm.Vm.Value = vm_moref end
  end)
end

local function verdicts(results)
  local out = {}
  for i, r in ipairs(results) do
    assert.is_nil(r.error)
    out[i] = r.verdict
  end
  return out
end

describe("30-collapse-storms", function()
  teardown(engine.cleanup)

  it("keeps the first event, drops repeats within the window, then counts them on the next", function()
    local r = engine.run(SCRIPT, {
      event("VmPoweredOnEvent", 0), event("VmPoweredOnEvent", 10), event("VmPoweredOnEvent", 59),
      event("VmPoweredOnEvent", 61), event("VmPoweredOnEvent", 130),
    })
    assert.same({ "keep", "drop", "drop", "keep", "keep" }, verdicts(r))
    assert.is_nil(engine.attr(r[1].event, "collapsedcount"))
    assert.equal("2", engine.attr(r[4].event, "collapsedcount"))
    -- Nothing was dropped in the second window.
    assert.is_nil(engine.attr(r[5].event, "collapsedcount"))
  end)

  it("tells objects and classes apart", function()
    local r = engine.run(SCRIPT, {
      event("VmPoweredOnEvent", 0, "vm-101"), event("VmPoweredOnEvent", 1, "vm-102"),
      event("VmPoweredOffEvent", 2, "vm-101"), event("VmPoweredOnEvent", 3, "vm-101"),
    })
    assert.same({ "keep", "keep", "keep", "drop" }, verdicts(r))
  end)

  it("collapses host events by host and EventEx by ObjectId", function()
    local r = engine.run(SCRIPT, {
      event("HostConnectionLostEvent", 0), event("HostConnectionLostEvent", 5),
      event("com.vmware.vc.HA.ClusterFailoverActionTriggeredEvent", 0),
      event("com.vmware.vc.HA.ClusterFailoverActionTriggeredEvent", 5),
    })
    assert.same({ "keep", "drop", "keep", "drop" }, verdicts(r))
  end)

  it("treats slightly out-of-order events as duplicates too", function()
    local r = engine.run(SCRIPT, { event("VmPoweredOnEvent", 30), event("VmPoweredOnEvent", 5) })
    assert.same({ "keep", "drop" }, verdicts(r))
  end)

  it("keeps events it cannot attribute to an object, and events with no data", function()
    local no_data = engine.edited("VmPoweredOnEvent", function(ev) ev.data = nil end)
    local null_vm = event("VmRemovedEvent", 0)
    null_vm.data.Vm = engine.null
    local null_vm2 = event("VmRemovedEvent", 1)
    null_vm2.data.Vm = engine.null
    local r = engine.run(SCRIPT, {
      "UserLoginSessionEvent", "UserLoginSessionEvent", no_data, no_data, null_vm, null_vm2,
    })
    -- null Vm: falls back to the next object named (Host), so the second is a duplicate.
    assert.same({ "keep", "keep", "keep", "keep", "keep", "drop" }, verdicts(r))
  end)

  it("falls back to the CloudEvent time when CreatedTime is missing", function()
    local a = engine.edited("VmPoweredOnEvent", function(ev)
      ev.data.CreatedTime = engine.null
      ev.time = at(0)
    end)
    local b = engine.edited("VmPoweredOnEvent", function(ev)
      ev.data.CreatedTime = nil
      ev.time = at(20)
    end)
    local c = engine.edited("VmPoweredOnEvent", function(ev)
      ev.data.CreatedTime = nil
      ev.time = at(90)
    end)
    assert.same({ "keep", "drop", "keep" }, verdicts(engine.run(SCRIPT, { a, b, c })))
  end)

  it("bounds its memory: forgets expired keys, and lets untracked events through when full", function()
    local small = engine.variant(SCRIPT, { { "local MAX_KEYS = 10000", "local MAX_KEYS = 2" } })
    local r = engine.run(small, {
      event("VmPoweredOnEvent", 0, "vm-1"), event("VmPoweredOnEvent", 0, "vm-2"),
      -- full: vm-3 is not remembered, so its repeat goes through
      event("VmPoweredOnEvent", 1, "vm-3"), event("VmPoweredOnEvent", 2, "vm-3"),
      -- still remembered
      event("VmPoweredOnEvent", 3, "vm-1"),
      -- after the window vm-2 expires (vm-1, which suppressed a repeat, stays one more window
      -- for its count), so vm-4 is remembered and its repeat dropped
      event("VmPoweredOnEvent", 100, "vm-4"), event("VmPoweredOnEvent", 101, "vm-4"),
    })
    assert.same({ "keep", "keep", "keep", "keep", "drop", "keep", "drop" }, verdicts(r))
  end)
end)
