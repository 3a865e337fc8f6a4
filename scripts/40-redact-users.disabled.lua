-- Redacts user names: data.UserName, the same name inside data.FullFormattedMessage and
-- data.Message (as DOMAIN\user or user@domain, any case), and EventEx arguments whose key names
-- a user (com.vmware.sso.LoginSuccess's "userName", ...). For processors outside your trust
-- boundary (a SaaS chat, a shared log store) that must not learn who did what.
-- Event class, objects and times are untouched, so alerting still works.
-- Off by default. Enable: rename to 40-redact-users.lua, SIGHUP.
local vc = require "vcenter"

local REPLACEMENT = "[redacted]"
-- Message fields in which the user name is replaced.
local MESSAGE_FIELDS = { "FullFormattedMessage", "Message" }

-- Fail closed: an event this script could not redact must not reach the processors.
on_error = "deadletter"

-- Replaces every occurrence of `needle` in `s`, ignoring case, without Lua patterns (user names
-- contain "\", "." and "-").
local function replace_plain_nocase(s, needle, replacement)
  local lower_s, lower_needle = s:lower(), needle:lower()
  local out, pos = {}, 1
  while true do
    local first, last = lower_s:find(lower_needle, pos, true)
    if not first then break end
    out[#out + 1] = s:sub(pos, first - 1)
    out[#out + 1] = replacement
    pos = last + 1
  end
  out[#out + 1] = s:sub(pos)
  return table.concat(out)
end

-- The forms a name takes in vCenter messages: DOMAIN\user and user@domain are the same account.
local function name_forms(name)
  local forms = { name }
  local domain, user = name:match("^([^\\]+)\\(.+)$")
  if domain then forms[#forms + 1] = user .. "@" .. domain end
  user, domain = name:match("^([^@]+)@(.+)$")
  if user then forms[#forms + 1] = domain .. "\\" .. user end
  return forms
end

-- Argument keys that hold an account: "userName", "user", "targetUser", "user.id", "principal".
-- Not "userIp" or "userAgent", which are not names.
local function is_user_key(key)
  if type(key) ~= "string" then return false end
  local k = key:lower():gsub("[^a-z]", "")
  return k:find("user$") ~= nil or k:find("username$") ~= nil or k:find("userid$") ~= nil
    or k:find("principal$") ~= nil
end

function process(event)
  local data = event.data
  if type(data) ~= "table" then return true end

  local names = {}
  local user = vc.string(data, "UserName")
  if user then
    names[#names + 1] = user
    data.UserName = REPLACEMENT
  end

  -- EventEx / ExtendedEvent arguments: [{Key, Value}, ...]
  local args = vc.get(data, "Arguments")
  if type(args) == "table" then
    for _, arg in ipairs(args) do
      if type(arg) == "table" and is_user_key(arg.Key) and type(arg.Value) == "string" and arg.Value ~= "" then
        names[#names + 1] = arg.Value
        arg.Value = REPLACEMENT
      end
    end
  end

  if #names == 0 then return true end
  for _, field in ipairs(MESSAGE_FIELDS) do
    local message = vc.string(data, field)
    if message then
      for _, name in ipairs(names) do
        for _, form in ipairs(name_forms(name)) do
          -- A one- or two-letter name would blank out ordinary words.
          if #form >= 3 then message = replace_plain_nocase(message, form, REPLACEMENT) end
        end
      end
      data[field] = message
    end
  end
  er.counter("redacted")
  return true
end
