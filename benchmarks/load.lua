-- wrk script for benchmarks/run.py: one script, three kinds of request, and
-- every response checked (a fast wrong answer must not count as throughput).
--
--   LINES_FILE    one request per line: "PATH" or "PATH<TAB>COOKIE"; each
--                 thread takes every n-th line (WRK_THREADS threads).
--   LINES_CYCLE   "1": lines are reused round robin (SSO, trivial endpoint);
--                 otherwise each line is used once (fresh ticket per request)
--                 and an exhausted thread repeats its last line, which then
--                 fails the check and is reported.
--   EXPECT_STATUS the HTTP status of a good answer (200, 302)
--   EXPECT_BODY   a string a good body contains (optional)
--   EXPECT_LOCATION a string a good Location header contains (optional)
-- done() prints "CHECK ok=<n> bad=<n> exhausted=<0|1>" for run.py.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
  table.insert(threads, thread)
end

function init(args)
  local total = tonumber(os.getenv("WRK_THREADS") or "1")
  cycle = os.getenv("LINES_CYCLE") == "1"
  expect_status = tonumber(os.getenv("EXPECT_STATUS") or "200")
  expect_body = os.getenv("EXPECT_BODY") or ""
  expect_location = os.getenv("EXPECT_LOCATION") or ""
  requests_ = {}
  local n = 0
  for line in io.lines(os.getenv("LINES_FILE")) do
    if line ~= "" then
      if n % total == (index - 1) then
        local path, cookie = line:match("^([^\t]+)\t(.+)$")
        if path == nil then path = line end
        local headers = {}
        if cookie ~= nil then headers["Cookie"] = cookie end
        table.insert(requests_, wrk.format("GET", path, headers))
      end
      n = n + 1
    end
  end
  position = 0
  ok = 0
  bad = 0
  exhausted = 0
end

function request()
  position = position + 1
  if position > #requests_ then
    if cycle then
      position = 1
    else
      exhausted = 1
      position = #requests_
    end
  end
  return requests_[position]
end

function response(status, headers, body)
  local good = status == expect_status
  if good and expect_body ~= "" then
    good = body ~= nil and string.find(body, expect_body, 1, true) ~= nil
  end
  if good and expect_location ~= "" then
    local location = headers["Location"] or headers["location"] or ""
    good = string.find(location, expect_location, 1, true) ~= nil
  end
  if good then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_bad, any_exhausted = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + (thread:get("ok") or 0)
    total_bad = total_bad + (thread:get("bad") or 0)
    if (thread:get("exhausted") or 0) == 1 then any_exhausted = 1 end
  end
  io.write(string.format("CHECK ok=%d bad=%d exhausted=%d\n", total_ok, total_bad, any_exhausted))
  io.write(string.format("LATENCY_US p50=%d p90=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
