-- Starts with "_": never loaded (it would fail the load if it were).
error("_draft.lua must not be loaded")
