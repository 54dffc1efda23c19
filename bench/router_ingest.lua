-- wrk script for bench/router_ingest.py: POST Alertmanager v4 webhooks, 5 alerts each.
--
-- Per thread, odd requests carry 5 new alerts (fingerprint and startsAt built from the
-- thread id and a per-thread counter) and even requests are byte-exact repeats of a new
-- body sent LAG new bodies earlier (already answered: a thread has at most -c/-t requests in
-- flight), so half the requests are new alerts and half repeats of stored ones.
-- The bearer token and Content-Type come from wrk's -H options.
-- response() counts non-2xx statuses and sums the router's "new"/"duplicates" counts from
-- each 2xx body; done() prints one "VIGIL-WRK key=value ..." line for the Python side.

local LAG = 8
local RING = 64

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("tid", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- per-thread state (each wrk thread has its own Lua state)
tid = 0
sent = 0          -- requests generated
new_sent = 0      -- new bodies generated (5 new alerts each)
non2xx = 0        -- responses outside 200..299
codes = ""        -- "status:count,..." of non-2xx responses
acked_new = 0     -- sum of "new" in 2xx bodies
acked_dup = 0     -- sum of "duplicates" in 2xx bodies
unparsed = 0      -- 2xx bodies without a "new" count
local ring = {}
local code_counts = {}
local base = 1767225600  -- 2026-01-01T00:00:00Z

local function alert(name, starts)
   return '{"status":"firing","labels":{"alertname":"' .. name ..
      '","severity":"P3","target":"b"},"annotations":{"summary":"bench"},"startsAt":"' ..
      starts .. '","endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"' ..
      name .. '"}'
end

local function new_body(k)
   local starts = os.date("!%Y-%m-%dT%H:%M:%SZ", base + k)
   local alerts = {}
   for i = 0, 4 do
      alerts[#alerts + 1] = alert(string.format("w%d-r%d-a%d", tid, k, i), starts)
   end
   return '{"version":"4","groupKey":"{}","status":"firing","receiver":"vigil","alerts":[' ..
      table.concat(alerts, ",") .. ']}'
end

function request()
   sent = sent + 1
   local body
   if sent % 2 == 1 then
      new_sent = new_sent + 1
      body = new_body(new_sent)
      ring[new_sent % RING] = body
   else
      local k = new_sent - LAG
      if k < 1 then k = 1 end
      body = ring[k % RING]
   end
   return wrk.format("POST", nil, nil, body)
end

function response(status, headers, body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      code_counts[status] = (code_counts[status] or 0) + 1
      local parts = {}
      for c, n in pairs(code_counts) do parts[#parts + 1] = c .. ":" .. n end
      codes = table.concat(parts, ",")
      return
   end
   local n = body:match('"new":%s*(%d+)')
   local d = body:match('"duplicates":%s*(%d+)')
   if n then acked_new = acked_new + tonumber(n) else unparsed = unparsed + 1 end
   if d then acked_dup = acked_dup + tonumber(d) end
end

function done(summary, latency, requests)
   local t = {sent = 0, new_sent = 0, non2xx = 0, acked_new = 0, acked_dup = 0, unparsed = 0}
   local codes_all = {}
   for _, thread in ipairs(threads) do
      for k, _ in pairs(t) do t[k] = t[k] + (thread:get(k) or 0) end
      local c = thread:get("codes")
      if c and c ~= "" then codes_all[#codes_all + 1] = c end
   end
   local e = summary.errors
   io.write(string.format(
      "VIGIL-WRK requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d sent=%d " ..
      "new_sent=%d non2xx=%d acked_new=%d acked_dup=%d unparsed=%d connect_err=%d " ..
      "read_err=%d write_err=%d timeout_err=%d wrk_status_err=%d codes=%s\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      latency.max, t.sent, t.new_sent, t.non2xx, t.acked_new, t.acked_dup, t.unparsed,
      e.connect, e.read, e.write, e.timeout, e.status,
      (#codes_all > 0) and table.concat(codes_all, ";") or "-"))
end
