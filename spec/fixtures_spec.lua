-- The fixtures themselves: valid structured CloudEvents in the VEBA router shape, so the other
-- specs test scripts on what the router really produces. Needs no engine.
local engine = require("engine")

describe("fixtures", function()
  local names = engine.fixture_names()

  it("exist", function()
    assert.is_true(#names >= 12)
  end)

  for _, name in ipairs(names) do
    describe(name, function()
      local ev = engine.fixture(name)

      it("is a CloudEvents 1.0 event from a vCenter in router mode", function()
        assert.equal("1.0", ev.specversion)
        assert.is_string(ev.id)
        assert.matches("^https://.+/sdk$", ev.source)
        assert.matches("^com%.vmware%.event%.router/", ev.type)
        assert.equal("application/json", ev.datacontenttype)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d", ev.time)
      end)

      it("names its vCenter event class in subject and the file name", function()
        assert.equal(name, ev.subject)
        if ev.type == "com.vmware.event.router/eventex" then
          assert.equal(ev.subject, ev.data.EventTypeId)
        end
      end)

      it("has govmomi-shaped data: PascalCase base fields, null or {Name, {Type, Value}} refs", function()
        assert.is_number(ev.data.Key)
        assert.is_number(ev.data.ChainId)
        assert.is_string(ev.data.CreatedTime)
        assert.is_string(ev.data.FullFormattedMessage)
        for _, field in ipairs({ "Datacenter", "ComputeResource", "Host", "Vm", "Ds", "Net", "Dvs" }) do
          local v = ev.data[field]
          assert.is_not_nil(v, field .. " must be present (null when absent)")
          if v ~= engine.null then
            assert.is_string(v.Name)
            local ref = v[field == "Ds" and "Datastore" or field == "Net" and "Network" or field]
            assert.is_string(ref.Type)
            assert.is_string(ref.Value)
          end
        end
      end)
    end)
  end
end)
