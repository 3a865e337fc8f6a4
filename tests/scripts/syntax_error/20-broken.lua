function process(event)
    local x = 1
    local y = = 2
end
