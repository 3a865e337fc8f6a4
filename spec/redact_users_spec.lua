local engine = require("engine")
local SCRIPT = "scripts/40-redact-users.disabled.lua"
local REDACTED = "[redacted]"

describe("40-redact-users", function()
  teardown(engine.cleanup)

  it("redacts UserName and the name inside FullFormattedMessage", function()
    local r = engine.run(SCRIPT, { "UserLoginSessionEvent", "VmPoweredOnEvent" })
    local login = r[1].event.data
    assert.equal("keep", r[1].verdict)
    assert.is_nil(r[1].error)
    assert.equal(REDACTED, login.UserName)
    assert.equal("User " .. REDACTED .. "@10.20.30.40 logged in as VMware vSphere Client/8.0.2",
      login.FullFormattedMessage)
    -- Not user names: left alone.
    assert.equal("10.20.30.40", login.IpAddress)
    assert.equal("VMware vSphere Client/8.0.2", login.UserAgent)
    assert.equal("UserLoginSessionEvent", r[1].event.subject)

    local vm = r[2].event.data
    assert.equal(REDACTED, vm.UserName)
    assert.equal(engine.fixture("VmPoweredOnEvent").data.FullFormattedMessage, vm.FullFormattedMessage)
    assert.equal("web-01", vm.Vm.Name)
  end)

  it("redacts EventEx user arguments and the name in Message, in either account form", function()
    local r = engine.run_one(SCRIPT, "com.vmware.sso.LoginSuccess")
    local data = r.event.data
    assert.is_nil(r.error)
    assert.equal(REDACTED, data.UserName)
    assert.equal("userName", data.Arguments[1].Key)
    assert.equal(REDACTED, data.Arguments[1].Value)
    assert.equal("10.20.30.41", data.Arguments[2].Value)
    -- UserName is VSPHERE.LOCAL\carol; the message says carol@vsphere.local.
    assert.equal("User " .. REDACTED .. "@10.20.30.41 logged in", data.Message)
    assert.equal("User " .. REDACTED .. "@10.20.30.41 logged in", data.FullFormattedMessage)
  end)

  it("matches names case-insensitively and without Lua patterns", function()
    local ev = engine.edited("VmReconfiguredEvent", function(e)
      e.data.UserName = "CORP.EXAMPLE\\ops-admin(1)"
      e.data.FullFormattedMessage = "corp.example\\OPS-ADMIN(1) reconfigured db-01; ops-admin(1)@corp.example notified"
    end)
    local data = engine.run_one(SCRIPT, ev).event.data
    assert.equal(REDACTED .. " reconfigured db-01; " .. REDACTED .. " notified", data.FullFormattedMessage)
  end)

  it("leaves events without a user name unchanged", function()
    local names = { "DrsVmPoweredOnEvent", "HostConnectionLostEvent",
      "com.vmware.vc.HA.ClusterFailoverActionTriggeredEvent" }
    local null_user = engine.edited("VmPoweredOffEvent", function(e) e.data.UserName = engine.null end)
    local r = engine.run(SCRIPT, { names[1], names[2], names[3], null_user })
    for i, name in ipairs(names) do
      assert.equal("keep", r[i].verdict)
      assert.equal(engine.encode(engine.fixture(name).data), engine.encode(r[i].event.data))
    end
    assert.equal(engine.null, r[4].event.data.UserName)
    assert.equal(engine.encode(null_user.data), engine.encode(r[4].event.data))
  end)

  it("copes with missing and non-JSON data", function()
    local no_data = engine.edited("UserLoginSessionEvent", function(e) e.data = nil end)
    local text = engine.edited("UserLoginSessionEvent", function(e)
      e.datacontenttype, e.data = "text/plain", "User alice logged in"
    end)
    local r = engine.run(SCRIPT, { no_data, text })
    assert.equal("keep", r[1].verdict)
    assert.is_nil(r[1].error)
    assert.is_nil(r[1].event.data)
    assert.equal("keep", r[2].verdict)
    assert.is_nil(r[2].error)
    assert.equal("User alice logged in", r[2].event.data)
  end)
end)
