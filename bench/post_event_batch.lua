-- wrk script: POSTs BATCH (default 50) CloudEvents per request in batched mode
-- (application/cloudevents-batch+json), a unique id each, over 64 subjects as post_event.lua.
-- For processors whose own throughput is past what one-event requests can feed the webhook.
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  counter = 0
  batch = tonumber(os.getenv("BATCH") or "50")
  SUBJECTS = tonumber(os.getenv("SUBJECTS") or "64")
  prefix = "wrkb-" .. tostring(tid) .. "-"
  data = '{"Key":1,"ChainId":1,"CreatedTime":"2024-01-01T12:00:00Z","UserName":"VSPHERE.LOCAL\\\\svc",'
    .. '"Datacenter":{"Name":"Datacenter","Datacenter":{"Type":"Datacenter","Value":"datacenter-2"}},'
    .. '"Vm":{"Name":"vm-app-01","Vm":{"Type":"VirtualMachine","Value":"vm-1001"}},'
    .. '"FullFormattedMessage":"vm-app-01 on esx-1.vcenter.local in Datacenter is powered on"}'
  headers = {["Content-Type"] = "application/cloudevents-batch+json"}
end

function request()
  local events = {}
  for i = 1, batch do
    counter = counter + 1
    events[i] = '{"specversion":"1.0","id":"' .. prefix .. counter .. '","source":"https://vcenter.local/sdk",'
      .. '"type":"com.vmware.event.router/event","subject":"VmPoweredOnEvent-' .. (counter % SUBJECTS + 1) .. '",'
      .. '"datacontenttype":"application/json","data":' .. data .. '}'
  end
  return wrk.format("POST", nil, headers, "[" .. table.concat(events, ",") .. "]")
end
