-- wrk script: each request validates a fresh, pre-issued service ticket.
-- TICKETS_FILE holds one "ticket service-url-encoded" pair per line; thread
-- number i of n takes every n-th line, so no ticket is used twice.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
  table.insert(threads, thread)
end

function init(args)
  local total = tonumber(os.getenv("WRK_THREADS") or "1")
  lines = {}
  local n = 0
  for line in io.lines(os.getenv("TICKETS_FILE")) do
    if n % total == (index - 1) then table.insert(lines, line) end
    n = n + 1
  end
  position = 0
end

function request()
  position = position + 1
  local line = lines[position]
  if line == nil then line = lines[1] end -- exhausted: fails INVALID_TICKET, still counted
  local ticket, service = line:match("(%S+) (%S+)")
  return wrk.format("GET", os.getenv("VALIDATE_PATH") .. "?service=" .. service .. "&ticket=" .. ticket)
end
