-- Collapses event storms: after an event of some class about some object (same subject, same
-- Vm / Host / ... moref), further events of that class about that object are dropped until
-- WINDOW_SECONDS have passed since the one that went through. A flapping host or a VM stuck in
-- a reset loop then reaches your functions once per window instead of hundreds of times.
-- The first event after a window that suppressed duplicates (if it comes within one more window)
-- carries the extension `collapsedcount` = how many were dropped, so a processor can still tell
-- it was a storm.
-- Time is vCenter's CreatedTime (else the CloudEvent time), so a replay of old events collapses
-- the same way live ones do.
-- Off by default. Enable: rename to 30-collapse-storms.lua, SIGHUP.
local vc = require "vcenter"

local WINDOW_SECONDS = 60
-- Upper bound on remembered (class, object) pairs: memory stays bounded during a storm over
-- many objects. Beyond it, new pairs are not remembered and their events go through.
local MAX_KEYS = 10000

-- A bug here must never lose events.
on_error = "pass"

-- er.state survives between events (not across reloads): seen[key] = {first = t, dropped = n}.
local state = er.state
state.seen = state.seen or {}
state.count = state.count or 0
state.last_sweep = state.last_sweep or 0

-- Forgets pairs whose window is over; a pair that suppressed duplicates is kept one more window,
-- for the next event to report the count. Runs at most once per window, so its cost (one pass
-- over at most MAX_KEYS entries) is spread over many events.
local function sweep(now)
  for key, entry in pairs(state.seen) do
    local age = now - entry.first
    if age >= WINDOW_SECONDS and (entry.dropped == 0 or age >= 2 * WINDOW_SECONDS) then
      state.seen[key] = nil
      state.count = state.count - 1
    end
  end
  state.last_sweep = now
end

function process(event)
  if not vc.is_vcenter(event) then return true end
  local class = vc.event_class(event)
  local object = vc.object_ref(event)
  -- Without an object we cannot tell a duplicate from a different event: keep it.
  if not class or not object then return true end

  local now = vc.event_time(event)
  if now - state.last_sweep >= WINDOW_SECONDS or state.count >= MAX_KEYS then sweep(now) end

  local key = class .. "|" .. object
  local entry = state.seen[key]
  -- abs(): events may arrive slightly out of order; within the window either way is a duplicate.
  if entry and math.abs(now - entry.first) < WINDOW_SECONDS then
    entry.dropped = entry.dropped + 1
    er.counter("collapsed")
    return false
  end

  if entry then
    if entry.dropped > 0 then
      event.extensions = event.extensions or {}
      event.extensions.collapsedcount = tostring(entry.dropped)
    end
    entry.first, entry.dropped = now, 0
  elseif state.count < MAX_KEYS then
    state.seen[key] = { first = now, dropped = 0 }
    state.count = state.count + 1
  else
    er.counter("untracked")
  end
  return true
end
