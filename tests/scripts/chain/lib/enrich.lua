-- A module: loaded once per state, cached.
local M = {}
local loads = (M.loads or 0) + 1
function M.tag()
    return "enriched-" .. loads
end
return M
