-- POST the body named by $MB_BODY as JSON (wrk runs this per thread).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("MB_BODY"), "rb"))
wrk.body = f:read("*all")
f:close()
