-- Keeps only VM lifecycle events (created, removed, powered on/off, suspended, reset,
-- reconfigured, migrated, renamed, cloned, registered, ...) and drops every other vCenter event.
-- For a router that only feeds, say, a CMDB sync or a VM inventory function.
-- Off by default (it drops most events). Enable: rename to 20-vm-lifecycle-only.lua, SIGHUP.
local vc = require "vcenter"

-- A bug here must never lose events: on error the event goes on unchanged.
on_error = "pass"

-- Events from other sources (not vCenter) are not ours to judge: keep them.
local KEEP_OTHER_SOURCES = true

local LIFECYCLE = {}
for _, class in ipairs({
  -- creation and registration
  "VmCreatedEvent", "VmClonedEvent", "VmDeployedEvent", "VmRegisteredEvent", "VmDiscoveredEvent",
  "VmInstanceUuidAssignedEvent",
  -- removal
  "VmRemovedEvent",
  -- power state
  "VmPoweredOnEvent", "DrsVmPoweredOnEvent", "VmPoweredOffEvent", "VmSuspendedEvent",
  "VmResettingEvent", "VmGuestShutdownEvent", "VmGuestRebootEvent", "VmGuestStandbyEvent",
  -- configuration and identity
  "VmReconfiguredEvent", "VmRenamedEvent", "VmUpgradeCompleteEvent",
  -- placement
  "VmMigratedEvent", "DrsVmMigratedEvent", "VmRelocatedEvent",
  -- EventEx lifecycle events
  "com.vmware.vc.vm.VmStateRevertedToSnapshot",
}) do
  LIFECYCLE[class] = true
end

function process(event)
  if not vc.is_vcenter(event) then return KEEP_OTHER_SOURCES end
  local class = vc.event_class(event)
  if class and LIFECYCLE[class] then return true end
  er.counter("dropped")
  return false
end
