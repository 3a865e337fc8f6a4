-- Defines no process(): the load must fail.
local unused = 1
