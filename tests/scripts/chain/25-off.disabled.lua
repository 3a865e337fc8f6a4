-- Ends with ".disabled.lua": never loaded (it would fail the load if it were).
error("25-off.disabled.lua must not be loaded")
