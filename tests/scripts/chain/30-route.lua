-- Routes by type; reads data without changing it.
function process(event)
    if event.type == "transform" then
        er.route(event, "knative-a", "knative-b")
    elseif event.data ~= nil and type(event.data) == "table" and event.data.n then
        er.route(event, "by-data")
    end
    return true
end
