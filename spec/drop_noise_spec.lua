local engine = require("engine")
local SCRIPT = "scripts/10-drop-noise.disabled.lua"

describe("10-drop-noise", function()
  teardown(engine.cleanup)

  it("drops session login and logout events", function()
    local r = engine.run(SCRIPT, { "UserLoginSessionEvent", "UserLogoutSessionEvent" })
    for _, result in ipairs(r) do
      assert.equal("drop", result.verdict)
      assert.is_nil(result.error)
    end
  end)

  it("drops alarm status changes from or to gray, keeps real transitions", function()
    local to_red = engine.edited("AlarmStatusChangedEvent", function(ev)
      ev.data.From, ev.data.To = "yellow", "red"
    end)
    local to_gray = engine.edited("AlarmStatusChangedEvent", function(ev)
      ev.data.From, ev.data.To = "green", "Gray"
    end)
    local r = engine.run(SCRIPT, { "AlarmStatusChangedEvent", to_red, to_gray })
    assert.equal("drop", r[1].verdict)
    assert.equal("keep", r[2].verdict)
    assert.equal("red", r[2].event.data.To)
    assert.equal("drop", r[3].verdict)
  end)

  it("keeps everything else unchanged", function()
    local names = { "VmPoweredOnEvent", "VmCreatedEvent", "HostConnectionLostEvent",
      "com.vmware.vc.HA.ClusterFailoverActionTriggeredEvent", "com.vmware.sso.LoginSuccess" }
    local r = engine.run(SCRIPT, names)
    for i, name in ipairs(names) do
      assert.equal("keep", r[i].verdict, name)
      assert.is_nil(r[i].error)
      assert.equal(engine.encode(engine.fixture(name).data), engine.encode(r[i].event.data))
      assert.is_nil(r[i].routes)
    end
  end)

  it("leaves events from other sources alone, whatever their subject", function()
    local other = engine.edited("UserLoginSessionEvent", function(ev)
      ev.type = "com.example.webhook"
    end)
    assert.equal("keep", engine.run_one(SCRIPT, other).verdict)
  end)

  it("copes with missing, null and non-JSON data", function()
    local no_data = engine.edited("AlarmStatusChangedEvent", function(ev) ev.data = nil end)
    local null_states = engine.edited("AlarmStatusChangedEvent", function(ev)
      ev.data.From, ev.data.To = engine.null, engine.null
    end)
    local text = engine.edited("VmPoweredOnEvent", function(ev)
      ev.datacontenttype, ev.data = "text/plain", "not json"
    end)
    local login_no_data = engine.edited("UserLoginSessionEvent", function(ev) ev.data = nil end)
    local r = engine.run(SCRIPT, { no_data, null_states, text, login_no_data })
    for i = 1, 3 do
      assert.equal("keep", r[i].verdict)
      assert.is_nil(r[i].error)
    end
    assert.equal("drop", r[4].verdict)
  end)
end)
