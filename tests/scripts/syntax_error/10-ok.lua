function process(event) end
