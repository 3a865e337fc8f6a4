-- wrk script: POSTs one binary-mode CloudEvent per request over keep-alive, a unique ce-id each.
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  counter = 0
  prefix = "wrk-" .. tostring(tid) .. "-"
  body = '{"Key":1,"ChainId":1,"CreatedTime":"2024-01-01T12:00:00Z","UserName":"VSPHERE.LOCAL\\\\svc",'
    .. '"Datacenter":{"Name":"Datacenter","Datacenter":{"Type":"Datacenter","Value":"datacenter-2"}},'
    .. '"Vm":{"Name":"vm-app-01","Vm":{"Type":"VirtualMachine","Value":"vm-1001"}},'
    .. '"FullFormattedMessage":"vm-app-01 on esx-1.vcenter.local in Datacenter is powered on"}'
  headers = {
    ["Content-Type"] = "application/json",
    ["ce-specversion"] = "1.0",
    ["ce-source"] = "https://vcenter.local/sdk",
    ["ce-type"] = "com.vmware.event.router/event",
  }
  -- 64 subjects: the router keeps each subject in order, so this leaves it 64 parallel lanes
  -- (its maxInFlight) as a vCenter with many VMs and event types would.
  subjects = {}
  for i = 1, 64 do subjects[i] = "VmPoweredOnEvent-" .. i end
end

function request()
  counter = counter + 1
  headers["ce-id"] = prefix .. counter
  headers["ce-subject"] = subjects[(counter % #subjects) + 1]
  return wrk.format("POST", nil, headers, body)
end
