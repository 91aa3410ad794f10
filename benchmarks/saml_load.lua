-- wrk script for benchmarks/run.py: SAML single sign-on with a live session.
--
-- Every request is a fresh AuthnRequest (HTTP-POST binding: base64 of the XML,
-- url-encoded, in a form body) with an ID of its own, since the identity
-- provider refuses a request id it has seen; each carries the TGC of one of
-- the signed-in browsers (round robin). A good answer is the 200 page with the
-- auto-submitted form holding the signed SAMLResponse, whose status is Success.
--
--   LINES_FILE     one "Cookie" header value per line
--   SAML_PATH      the SSO endpoint's path (/idp/sso)
--   SAML_DESTINATION  its full URL (the request's Destination)
--   SAML_ISSUER    the SP's entity id;  SAML_ACS  its assertion consumer service URL
--   WRK_THREADS    threads of this wrk run (each takes every n-th cookie)
-- done() prints "CHECK ok=<n> bad=<n> exhausted=0" and the latency line, as load.lua.
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("index", counter)
  table.insert(threads, thread)
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local digits = {}
for i = 1, 64 do digits[i - 1] = alphabet:sub(i, i) end

-- RFC 4648 base64: three bytes at a time, "=" padding.
local function base64(data)
  local out = {}
  local length = #data
  for i = 1, length, 3 do
    local a, b, c = data:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = digits[c1] .. digits[c2]
      .. (b and digits[c3] or "=") .. (c and digits[c4] or "=")
  end
  return table.concat(out)
end

local function urlencode(text)
  return (text:gsub("[^%w%-%._~]", function(ch)
    return string.format("%%%02X", ch:byte())
  end))
end

local function xml_escape(text)
  return (text:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub('"', "&quot;"))
end

-- A plain text's base64 as it appears inside a longer base64 text, for each of the
-- three alignments: the first and last groups (mixed with the neighbours) dropped.
local function needles(text)
  local out = {}
  for shift = 0, 2 do
    local encoded = base64(string.rep("x", shift) .. text)
    local first = shift > 0 and 5 or 1
    table.insert(out, encoded:sub(first, #encoded - 4))
  end
  return out
end

function init(args)
  local total = tonumber(os.getenv("WRK_THREADS") or "1")
  path = os.getenv("SAML_PATH") or "/idp/sso"
  destination = xml_escape(os.getenv("SAML_DESTINATION"))
  issuer = xml_escape(os.getenv("SAML_ISSUER"))
  acs = xml_escape(os.getenv("SAML_ACS"))
  cookies = {}
  local n = 0
  for line in io.lines(os.getenv("LINES_FILE")) do
    if line ~= "" then
      if n % total == (index - 1) then table.insert(cookies, line) end
      n = n + 1
    end
  end
  math.randomseed(os.time() * 1000 + index)
  -- Unique per run, thread and request: a random prefix, then a counter.
  prefix = string.format("_b%08x%08x%02x", math.random(0, 0x7fffffff), os.time(), index)
  sequence = 0
  success = needles("urn:oasis:names:tc:SAML:2.0:status:Success")
  ok = 0
  bad = 0
  exhausted = 0
end

function request()
  sequence = sequence + 1
  local xml = '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"'
    .. ' xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
    .. ' ID="' .. prefix .. string.format("%09d", sequence) .. '" Version="2.0"'
    .. ' IssueInstant="' .. os.date("!%Y-%m-%dT%H:%M:%SZ") .. '"'
    .. ' Destination="' .. destination .. '"'
    .. ' AssertionConsumerServiceURL="' .. acs .. '"'
    .. ' ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
    .. '<saml:Issuer>' .. issuer .. '</saml:Issuer>'
    .. '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"/>'
    .. '</samlp:AuthnRequest>'
  local body = "SAMLRequest=" .. urlencode(base64(xml)) .. "&RelayState=bench"
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = cookies[(sequence - 1) % #cookies + 1],
  }
  return wrk.format("POST", path, headers, body)
end

-- 200, the form with the SAMLResponse, and its status Success (seen through base64).
function response(status, headers, body)
  local good = status == 200 and body ~= nil
    and string.find(body, 'name="SAMLResponse"', 1, true) ~= nil
  if good then
    good = false
    for _, needle in ipairs(success) do
      if string.find(body, needle, 1, true) then good = true break end
    end
  end
  if good then ok = ok + 1 else bad = bad + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_bad = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + (thread:get("ok") or 0)
    total_bad = total_bad + (thread:get("bad") or 0)
  end
  io.write(string.format("CHECK ok=%d bad=%d exhausted=0\n", total_ok, total_bad))
  io.write(string.format("LATENCY_US p50=%d p90=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
