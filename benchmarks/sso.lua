-- wrk script: single sign-on ticket issue, /login?service=… with a valid TGC.
function init(args)
  cookie = os.getenv("TGC_COOKIE")
  path = os.getenv("SSO_PATH")
end

function request()
  return wrk.format("GET", path, { ["Cookie"] = cookie })
end
