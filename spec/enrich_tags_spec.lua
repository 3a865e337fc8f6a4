local engine = require("engine")
local SCRIPT = "scripts/50-enrich-tags.disabled.lua"

describe("50-enrich-tags", function()
  teardown(engine.cleanup)

  it("adds the vmtags extension from scripts/lib/tags.lua, by moref then by name", function()
    local r = engine.run(SCRIPT, { "VmPoweredOnEvent", "DrsVmPoweredOnEvent", "VmCreatedEvent" })
    for i = 1, 3 do
      assert.equal("keep", r[i].verdict)
      assert.is_nil(r[i].error)
    end
    assert.equal("env:production,owner:web-team,backup:gold", engine.attr(r[1].event, "vmtags")) -- vm-101
    assert.equal("env:production,owner:web-team", engine.attr(r[2].event, "vmtags")) -- web-02
    assert.equal("env:development,owner:app-team", engine.attr(r[3].event, "vmtags")) -- app-new-01
  end)

  it("prefers the moref over the display name (names change, morefs do not)", function()
    local renamed = engine.edited("VmPoweredOnEvent", function(ev) ev.data.Vm.Name = "web-02" end)
    assert.equal("env:production,owner:web-team,backup:gold", engine.attr(engine.run_one(SCRIPT, renamed).event, "vmtags"))
  end)

  it("does not change data by default", function()
    local r = engine.run_one(SCRIPT, "VmReconfiguredEvent")
    assert.equal("env:production,owner:dba-team,backup:platinum", engine.attr(r.event, "vmtags"))
    assert.equal(engine.encode(engine.fixture("VmReconfiguredEvent").data), engine.encode(r.event.data))
  end)

  it("adds data.VmTags as a JSON array when ADD_DATA_FIELD is on", function()
    local with_data = engine.variant(SCRIPT, { { "local ADD_DATA_FIELD = false", "local ADD_DATA_FIELD = true" } })
    local r = engine.run_one(with_data, "VmPoweredOnEvent")
    assert.is_nil(r.error)
    assert.same({ "env:production", "owner:web-team", "backup:gold" }, r.event.data.VmTags)
    assert.is_true(engine.json.is_array(r.event.data.VmTags))
  end)

  it("leaves events about unknown VMs, without a VM, or without data untouched", function()
    local no_data = engine.edited("VmPoweredOnEvent", function(ev) ev.data = nil end)
    local null_vm = engine.edited("VmPoweredOnEvent", function(ev) ev.data.Vm = engine.null end)
    local other_source = engine.edited("VmPoweredOnEvent", function(ev) ev.type = "com.example.webhook" end)
    local r = engine.run(SCRIPT, { "VmRemovedEvent", "HostConnectionLostEvent", no_data, null_vm, other_source })
    for i = 1, #r do
      assert.equal("keep", r[i].verdict)
      assert.is_nil(r[i].error)
      assert.is_nil(engine.attr(r[i].event, "vmtags"))
    end
  end)
end)
