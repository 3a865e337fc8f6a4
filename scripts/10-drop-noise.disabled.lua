-- Drops high-volume vCenter events that few automations act on: session logins/logouts (every
-- vSphere Client tab, every monitoring tool and every solution account logs in and out all day)
-- and alarm status changes to or from "gray" (unknown), which vCenter emits for every alarm on
-- every object when it restarts or an alarm definition is edited.
-- Off by default: VEBA forwards everything, and some functions do use these events (login
-- auditing, alarm-to-chat). Enable it only if none of your processors needs them: rename to
-- 10-drop-noise.lua and send SIGHUP. See scripts/README.md.
local vc = require "vcenter"

-- A bug here must never lose events: on error the event goes on unchanged.
on_error = "pass"

-- Event classes dropped outright (subject, or EventTypeId for EventEx).
local NOISY = {
  UserLoginSessionEvent = true,
  UserLogoutSessionEvent = true,
  AlreadyAuthenticatedSessionEvent = true,
  ["com.vmware.vc.guestOperations.GuestOperation"] = true,
}

-- AlarmStatusChangedEvent: drop transitions from or to these states; real changes
-- (green <-> yellow <-> red) still go through.
local ALARM_NOISE_STATES = { gray = true }

local function is_noise(class, event)
  if NOISY[class] then return true end
  if class == "AlarmStatusChangedEvent" then
    local from = vc.string(event, "data", "From")
    local to = vc.string(event, "data", "To")
    return (from and ALARM_NOISE_STATES[from:lower()]) or (to and ALARM_NOISE_STATES[to:lower()]) or false
  end
  return false
end

function process(event)
  if not vc.is_vcenter(event) then return true end
  local class = vc.event_class(event)
  if class and is_noise(class, event) then
    -- The class comes from the fixed lists above, so the counter's names stay few.
    er.counter("dropped." .. class)
    return false
  end
  return true
end
