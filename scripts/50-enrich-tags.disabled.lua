-- Adds the VM's tags from a lookup table (scripts/lib/tags.lua) to events about that VM, as the
-- CloudEvent extension `vmtags` ("env:production,owner:web-team"; extensions travel as ce-vmtags
-- HTTP headers). A function can then act on ownership or environment without calling vCenter.
-- VMs not in the table get no extension.
-- Off by default (the example table is only an example). Enable: edit scripts/lib/tags.lua,
-- rename this file to 50-enrich-tags.lua, SIGHUP.
local vc = require "vcenter"
local tags = require "tags"

-- Also add data.VmTags (a JSON array). Off: it changes the vCenter payload, which some
-- functions decode strictly; the extension does not.
local ADD_DATA_FIELD = false

-- A bad table entry should not hold events back.
on_error = "pass"

local function lookup(event)
  local moref = vc.string(event, "data", "Vm", "Vm", "Value")
  local found = moref and tags.by_moref and tags.by_moref[moref]
  if found then return found end
  local name = vc.string(event, "data", "Vm", "Name")
  return name and tags.by_name and tags.by_name[name]
end

function process(event)
  if not vc.is_vcenter(event) then return true end
  local vm_tags = lookup(event)
  if not vm_tags or #vm_tags == 0 then return true end

  event.extensions = event.extensions or {}
  event.extensions.vmtags = table.concat(vm_tags, ",")
  if ADD_DATA_FIELD and type(event.data) == "table" then
    local copy = {}
    for i, tag in ipairs(vm_tags) do copy[i] = tag end
    event.data.VmTags = er.json.array(copy)
  end
  er.counter("enriched")
  return true
end
