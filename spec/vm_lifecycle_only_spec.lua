local engine = require("engine")
local SCRIPT = "scripts/20-vm-lifecycle-only.disabled.lua"

describe("20-vm-lifecycle-only", function()
  teardown(engine.cleanup)

  it("keeps VM lifecycle events unchanged", function()
    local names = { "VmCreatedEvent", "VmRemovedEvent", "VmPoweredOnEvent", "VmPoweredOffEvent",
      "DrsVmPoweredOnEvent", "VmReconfiguredEvent", "VmMigratedEvent" }
    local r = engine.run(SCRIPT, names)
    for i, name in ipairs(names) do
      assert.equal("keep", r[i].verdict, name)
      assert.is_nil(r[i].error)
      assert.equal(name, r[i].event.subject)
      assert.equal(engine.encode(engine.fixture(name).data), engine.encode(r[i].event.data))
    end
  end)

  it("drops every other vCenter event, EventEx included", function()
    local names = { "UserLoginSessionEvent", "UserLogoutSessionEvent", "AlarmStatusChangedEvent",
      "HostConnectionLostEvent", "com.vmware.vc.HA.ClusterFailoverActionTriggeredEvent",
      "com.vmware.sso.LoginSuccess" }
    local r = engine.run(SCRIPT, names)
    for i, name in ipairs(names) do
      assert.equal("drop", r[i].verdict, name)
      assert.is_nil(r[i].error)
    end
  end)

  it("keeps events from other sources, unless told not to", function()
    local other = engine.edited("HostConnectionLostEvent", function(ev) ev.type = "com.example.webhook" end)
    assert.equal("keep", engine.run_one(SCRIPT, other).verdict)

    local strict = engine.variant(SCRIPT, { { "local KEEP_OTHER_SOURCES = true", "local KEEP_OTHER_SOURCES = false" } })
    assert.equal("drop", engine.run_one(strict, other).verdict)
  end)

  it("decides on the subject alone, so missing or null data is no error", function()
    local no_data = engine.edited("VmPoweredOnEvent", function(ev) ev.data = nil end)
    local null_vm = engine.edited("VmRemovedEvent", function(ev) ev.data.Vm = engine.null end)
    local host_no_data = engine.edited("HostConnectionLostEvent", function(ev) ev.data = nil end)
    local r = engine.run(SCRIPT, { no_data, null_vm, host_no_data })
    assert.equal("keep", r[1].verdict)
    assert.equal("keep", r[2].verdict)
    assert.equal(engine.null, r[2].event.data.Vm)
    assert.equal("drop", r[3].verdict)
    for i = 1, 3 do assert.is_nil(r[i].error) end
  end)
end)
