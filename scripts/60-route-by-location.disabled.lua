-- Routes events by where they happened: a table maps a cluster (data.ComputeResource.Name) or a
-- datacenter (data.Datacenter.Name) to processor names (the `name`s in your RouterConfig's
-- processors). The most specific match wins: the cluster's list if the cluster is listed, else
-- the datacenter's. Events that match neither go to every processor, as without this script.
-- Off by default (the names below are examples). Enable: edit the tables, rename this file to
-- 60-route-by-location.lua, SIGHUP.
local vc = require "vcenter"

local BY_CLUSTER = {
  ["Cluster-Prod"] = { "prod-ops" },
}

local BY_DATACENTER = {
  ["DC-East"] = { "east-team" },
  ["DC-West"] = { "west-team", "audit" },
}

-- Processors for events that match no rule; nil = every processor.
local UNMATCHED = nil

function process(event)
  if not vc.is_vcenter(event) then return true end
  local cluster = vc.string(event, "data", "ComputeResource", "Name")
  local datacenter = vc.string(event, "data", "Datacenter", "Name")
  local targets = (cluster and BY_CLUSTER[cluster]) or (datacenter and BY_DATACENTER[datacenter]) or UNMATCHED
  if targets then
    er.route(event, table.unpack(targets))
    er.counter(targets == UNMATCHED and "unmatched" or "routed")
  end
  return true
end
