// Live checklist of the password policy, computed from the same rule list the
// server enforces (it stays authoritative: history and blocklist are checked
// only there). Progressive enhancement: without script the list is static.
(function () {
  "use strict";

  // specials: the policy's list of special characters, if it has one; any
  // other sign then counts for no class (as accounts/policy.py char_class).
  function charClass(ch, specials) {
    if (/\p{Nd}/u.test(ch)) return "digit";
    if (/\p{L}/u.test(ch)) {
      if (/\p{Lu}/u.test(ch)) return "upper";
      return "lower";
    }
    if (specials && specials.indexOf(ch) < 0) return "other";
    return "special";
  }

  function fold(text) {
    return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
  }

  // CNIL deliberation 2022-100: length × log2(the kinds of characters used),
  // rounded to whole bits (accounts/entropy.py entropy_bits and whole_bits).
  function entropyBits(pw, p) {
    var used = {};
    Array.from(pw).forEach(function (ch) { used[charClass(ch, p.chars)] = true; });
    delete used.other;
    var alphabet = Object.keys(used).reduce(function (sum, kind) { return sum + (p.sizes[kind] || 0); }, 0);
    return alphabet > 1 ? Math.floor(Array.from(pw).length * Math.log2(alphabet) + 0.5) : 0;
  }

  var checks = {
    entropy: function (pw, p) { return entropyBits(pw, p) >= p.bits; },
    min_length: function (pw, p) { return Array.from(pw).length >= p.n; },
    max_length: function (pw, p) { return Array.from(pw).length <= p.n; },
    classes_k_of_n: function (pw, p) {
      var seen = {};
      Array.from(pw).forEach(function (ch) { seen[charClass(ch, p.specials)] = true; });
      delete seen.other;
      return Object.keys(seen).length >= p.k;
    },
    forbidden_characters: function (pw, p) {
      return !Array.from(pw).some(function (ch) {
        return (p.whitespace && /\s/u.test(ch)) || (p.chars || "").indexOf(ch) >= 0;
      });
    },
    not_login: function (pw, p, ctx) {
      var login = (ctx.login || "").toLowerCase();
      return login.length < 3 || pw.toLowerCase().indexOf(login) < 0;
    },
    name_run: function (pw, p, ctx) {
      var text = fold(pw);
      var parts = fold(ctx.fullName || "").replace(/-/g, " ").split(/\s+/);
      return !parts.some(function (part) {
        for (var i = 0; i + p.n < part.length; i++) {
          if (text.indexOf(part.substr(i, p.n + 1)) >= 0) return true;
        }
        return false;
      });
    }
  };

  function classCheck(cls) {
    return function (pw, p) {
      return Array.from(pw).filter(function (ch) { return charClass(ch, p.chars) === cls; }).length >= p.n;
    };
  }
  ["lower", "upper", "digit", "special"].forEach(function (cls) {
    checks["class_" + cls] = classCheck(cls);
  });

  function setUp(list) {
    var form = list.closest("form");
    if (!form) return;
    var input = form.querySelector("input[name=new_password]");
    if (!input) return;
    var rules = JSON.parse(list.getAttribute("data-policy"));
    var summary = form.querySelector("[data-policy-summary]");
    var ctx = { login: input.getAttribute("data-login"), fullName: input.getAttribute("data-full-name") };
    // The words screen readers hear for each state (the marks are decoration)
    // and the count announced as the user types, in the page's language.
    var metText = list.getAttribute("data-met-text") || "";
    var brokenText = list.getAttribute("data-broken-text") || "";
    var summaryText = list.getAttribute("data-summary") || "{met} / {total}";

    function mark(item, state) {
      item.classList.toggle("is-met", state === "met");
      item.classList.toggle("is-broken", state === "broken");
      var sr = item.querySelector(".policy-rule__sr");
      var text = state === "met" ? " " + metText : state === "broken" ? " " + brokenText : "";
      if (sr && sr.textContent !== text) sr.textContent = text;
    }

    // The count is of the rules this list shows; those only the server checks
    // (history, blocklist) are listed apart, as checked when the form is sent.
    var total = list.querySelectorAll("li[data-rule]").length;

    function update() {
      var pw = input.value.normalize("NFC");
      var met = 0;
      rules.forEach(function (rule) {
        var item = form.querySelector('li[data-rule="' + rule.rule + '"]');
        if (!item) return;
        var check = checks[rule.rule];
        if (!rule.client || !check || !list.contains(item)) {
          // Only the server knows: its verdict was about the password
          // refused, not the one being typed.
          mark(item, "");
          return;
        }
        var ok = pw.length > 0 && check(pw, rule.params, ctx);
        if (ok) met += 1;
        var now = item.querySelector("[data-entropy-now]");
        if (now && rule.rule === "entropy") {
          var words = pw.length ? (now.getAttribute("data-text") || "{bits}").replace("{bits}", entropyBits(pw, rule.params)) : "";
          if (now.textContent !== words) now.textContent = words;
        }
        mark(item, pw.length === 0 ? "" : ok ? "met" : "broken");
      });
      if (summary) {
        var text = pw.length ? summaryText.replace("{met}", met).replace("{total}", total) : "";
        // Announce changes only: the same count is not read again at each key.
        if (summary.textContent !== text) summary.textContent = text;
      }
    }
    input.addEventListener("input", update);
    // The server's verdict on a refused password stays until the user types;
    // a value the browser restored is judged at once.
    if (input.value) update();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".policy-checklist[data-policy]").forEach(setUp);
  });
})();
