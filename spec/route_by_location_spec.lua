local engine = require("engine")
local SCRIPT = "scripts/60-route-by-location.disabled.lua"

describe("60-route-by-location", function()
  teardown(engine.cleanup)

  it("routes by cluster first, then by datacenter", function()
    local other_cluster = engine.edited("VmPoweredOnEvent", function(ev)
      ev.data.ComputeResource.Name = "Cluster-Test"
    end)
    local r = engine.run(SCRIPT, { "VmPoweredOnEvent", other_cluster, "HostConnectionLostEvent" })
    for i = 1, 3 do
      assert.equal("keep", r[i].verdict)
      assert.is_nil(r[i].error)
    end
    assert.same({ "prod-ops" }, r[1].routes) -- Cluster-Prod
    assert.same({ "east-team" }, r[2].routes) -- DC-East, cluster not listed
    assert.same({ "west-team", "audit" }, r[3].routes) -- Cluster-Dev not listed, DC-West
  end)

  it("routes EventEx events by their datacenter", function()
    local r = engine.run_one(SCRIPT, "com.vmware.vc.HA.ClusterFailoverActionTriggeredEvent")
    assert.same({ "west-team", "audit" }, r.routes)
  end)

  it("leaves unmatched events to every processor", function()
    local null_location = engine.edited("VmPoweredOnEvent", function(ev)
      ev.data.ComputeResource, ev.data.Datacenter = engine.null, engine.null
    end)
    local no_data = engine.edited("VmPoweredOnEvent", function(ev) ev.data = nil end)
    local r = engine.run(SCRIPT, { "UserLoginSessionEvent", null_location, no_data })
    for i = 1, 3 do
      assert.equal("keep", r[i].verdict)
      assert.is_nil(r[i].error)
      assert.is_nil(r[i].routes)
    end
  end)

  it("sends unmatched events to UNMATCHED when it is set", function()
    local catch_all = engine.variant(SCRIPT, { { "local UNMATCHED = nil", 'local UNMATCHED = { "catch-all" }' } })
    local r = engine.run(catch_all, { "UserLoginSessionEvent", "VmPoweredOnEvent" })
    assert.same({ "catch-all" }, r[1].routes)
    assert.same({ "prod-ops" }, r[2].routes)
  end)

  it("does not change the event itself", function()
    local r = engine.run_one(SCRIPT, "VmMigratedEvent")
    assert.equal(engine.encode(engine.fixture("VmMigratedEvent").data), engine.encode(r.event.data))
    assert.equal("VmMigratedEvent", r.event.subject)
  end)
end)
