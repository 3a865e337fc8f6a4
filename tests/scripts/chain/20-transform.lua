-- Changes attributes, extensions and data; uses a lib/ module.
local enrich = require "enrich"
on_error = "pass"

function process(event)
    if event.type ~= "transform" then
        return
    end
    event.subject = "changed-" .. (event.subject or "none")
    event.extensions.enriched = enrich.tag()
    event.extensions.dropme = nil
    event.data.count = event.data.count + 1
    er.state.calls = (er.state.calls or 0) + 1
    event.data.calls = er.state.calls
end
