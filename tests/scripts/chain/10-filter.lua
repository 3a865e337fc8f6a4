-- Drops noise before anything else looks at it; reads only attributes (data stays untouched).
function process(event)
    if event.type == "noise" then
        er.counter("dropped")
        return false
    end
    er.counter("seen")
end
