-- Outside lib/: require must never reach it.
return { secret = "should not be reachable" }
