-- Helpers for vCenter events in the VEBA CloudEvent shape ("router mode"):
--   type    com.vmware.event.router/event | eventex | extendedevent
--   subject the vCenter event class (VmPoweredOnEvent), or the EventTypeId for EventEx and
--           ExtendedEvent (com.vmware.vc.HA.ClusterFailoverActionTriggeredEvent)
--   data    the govmomi JSON of the event: PascalCase fields, JSON null for absent argument
--           structs (Vm, Host, ...), managed object references as {Type, Value}.
-- Usage: local vc = require "vcenter"
local vc = {}

local null = er.json.null

-- True for an event the router produced from vCenter; other sources' events (a webhook, say)
-- have other types and the shipped scripts leave them alone.
function vc.is_vcenter(event)
  return type(event.type) == "string" and event.type:find("com.vmware.event.router/", 1, true) == 1
end

-- The event class: subject for router-mode events, else data.EventTypeId if any.
function vc.event_class(event)
  if type(event.subject) == "string" and event.subject ~= "" then return event.subject end
  return vc.get(event, "data", "EventTypeId")
end

-- Walks nested fields, e.g. vc.get(event, "data", "Vm", "Vm", "Value"). Returns nil as soon as a
-- step is missing, JSON null or not a table: data may be absent, a string (non-JSON data), or
-- have null argument structs, and none of that must raise an error.
function vc.get(t, ...)
  local n = select("#", ...)
  for i = 1, n do
    if type(t) ~= "table" then return nil end
    t = t[(select(i, ...))]
    if t == null then return nil end
  end
  return t
end

-- A string field or nil (nil also for "", which govmomi writes for unset strings).
function vc.string(t, ...)
  local v = vc.get(t, ...)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

-- The managed objects an event can name, most specific first.
local OBJECT_FIELDS = {
  { "Vm", "Vm" }, { "Host", "Host" }, { "Ds", "Datastore" }, { "Net", "Network" },
  { "Dvs", "Dvs" }, { "ComputeResource", "ComputeResource" }, { "Datacenter", "Datacenter" },
}

-- The object an event is about, as "Type:Value" (e.g. "VirtualMachine:vm-101"), or nil.
-- EventEx names its object in ObjectType/ObjectId.
function vc.object_ref(event)
  local data = event.data
  for _, f in ipairs(OBJECT_FIELDS) do
    local value = vc.string(data, f[1], f[2], "Value")
    if value then return (vc.string(data, f[1], f[2], "Type") or f[1]) .. ":" .. value end
  end
  local id = vc.string(data, "ObjectId")
  if id then return (vc.string(data, "ObjectType") or "Object") .. ":" .. id end
  return nil
end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), so
-- timestamps are read as UTC whatever the host's time zone (os.time would use local time).
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- RFC 3339 timestamp -> seconds since the epoch (float), or nil when s is not one.
function vc.parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, frac, zone =
    s:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  local t = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
  if #frac > 1 then t = t + tonumber("0" .. frac) end
  if zone == "Z" or zone == "z" then return t end
  local sign, zh, zm = zone:match("^([+-])(%d%d):(%d%d)$")
  if not sign then return nil end
  local offset = tonumber(zh) * 3600 + tonumber(zm) * 60
  return sign == "+" and t - offset or t + offset
end

-- When vCenter created the event (data.CreatedTime), else the CloudEvent time, else now.
function vc.event_time(event)
  return vc.parse_time(vc.get(event, "data", "CreatedTime")) or vc.parse_time(event.time) or er.time()
end

return vc
