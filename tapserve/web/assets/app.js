/* The page's wiring: the editor, the check button, sync and async runs, the
 * table browser, examples and the login form. Without this file the query
 * form still posts to {tap}/sync. */
"use strict";

(function () {
  var base = document.body.dataset.base, ctx = document.body.dataset.ctx;
  var $ = function (id) { return document.getElementById(id); };
  var editor = new TsEditor.Editor($("query"), $("hl"), $("complete"));
  var formats = Array.prototype.map.call($("format").options, function (o) { return o.value; });
  var jobs = new TsJobs.List(base, $("jobs"), $("job-result"), formats);
  var msg = $("check-msg");

  $("service-url").textContent = location.origin + base;
  ["run-async", "check", "login", "examples-box", "table-filter"].forEach(function (id) { $(id).hidden = false; });
  $("table-filter").previousElementSibling.hidden = false;

  function say(text, cls) {
    msg.textContent = text;
    msg.className = "msg" + (cls ? " " + cls : "");
  }

  function form(params) {
    return { method: "POST", body: new URLSearchParams(params), credentials: "same-origin" };
  }

  /* ---- check ------------------------------------------------------------ */
  function check() {
    return fetch(base + "/web/check", form({ LANG: "ADQL", QUERY: editor.value() }))
      .then(function (r) { return r.json(); })
      .then(function (res) {
        if (res.ok) {
          editor.clearMark();
          say("The query is valid.", "good");
          return true;
        }
        var where = res.line ? "Line " + res.line + ", column " + res.column + ": " : "";
        say(where + res.message + (res.suggestion ? " Suggestion: " + res.suggestion : ""), "bad");
        if (res.line) editor.markError(res.line, res.column);
        return false;
      })
      .catch(function (e) { say("Cannot check the query: " + e.message, "bad"); return false; });
  }
  $("check").addEventListener("click", check);

  /* A DALI error document's message (INFO name="QUERY_STATUS"). */
  function daliMessage(xml) {
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    var infos = doc.getElementsByTagName("INFO");
    for (var i = 0; i < infos.length; i++)
      if (infos[i].getAttribute("name") === "QUERY_STATUS") return infos[i].textContent.trim();
    return xml.slice(0, 300);
  }

  /* Marks "line L, column C" of a server message, if it has one. */
  function markFrom(message) {
    var m = /line (\d+), column (\d+)/.exec(message);
    if (m) editor.markError(Number(m[1]), Number(m[2]));
  }

  /* ---- sync: a preview of at most MAXREC rows ----------------------------- */
  $("qform").addEventListener("submit", function (e) {
    e.preventDefault();
    var box = $("sync-result"), maxrec = $("maxrec").value || "1000";
    box.textContent = "Running…";
    say("");
    var started = performance.now();
    fetch(base + "/sync", form({ REQUEST: "doQuery", LANG: "ADQL", QUERY: editor.value(),
      RESPONSEFORMAT: "csv", MAXREC: maxrec }))
      .then(function (r) {
        if (!r.ok) return r.text().then(function (t) { throw new Error(daliMessage(t)); });
        return TsJobs.readCsv(r, 0, Number(maxrec));
      })
      .then(function (res) {
        box.textContent = "";
        var p = document.createElement("p");
        p.className = "muted";
        p.textContent = res.rows.length + " rows in " + Math.round(performance.now() - started) +
          " ms" + (res.rows.length >= Number(maxrec) ? " (MAXREC reached: run it as a job for all rows)" : "");
        box.appendChild(p);
        var t = TsJobs.dataTable(res, 0);
        t.id = "sync-preview";
        box.appendChild(t);
      })
      .catch(function (err) {
        box.textContent = "";
        say(err.message, "bad");
        markFrom(err.message);
      });
  });

  /* ---- async ---------------------------------------------------------------- */
  $("run-async").addEventListener("click", function () {
    say("");
    fetch(base + "/async", form({ REQUEST: "doQuery", LANG: "ADQL", QUERY: editor.value(),
      RESPONSEFORMAT: $("format").value, PHASE: "RUN" }))
      .then(function (r) {
        return r.text().then(function (t) {
          if (!r.ok) throw new Error(daliMessage(t));
          var j = TsJobs.parseJob(t);
          if (!j) throw new Error("no job in the answer");
          return jobs.add(j.id);
        });
      })
      .catch(function (err) { say(err.message, "bad"); markFrom(err.message); });
  });

  /* ---- tables, completion, examples -------------------------------------------- */
  function pick(t) {
    editor.setValue("SELECT TOP 100 * FROM " + t.name);
    $("query").focus();
  }
  var tablesReady = fetch(base + "/tables", { credentials: "same-origin" })
    .then(function (r) { return r.text(); })
    .then(function (xml) {
      /* Marks for whoever measures the page (the browser test prints them). */
      performance.mark("tables-fetched");
      var schemas = TsBrowse.parse(xml);
      performance.mark("tables-parsed");
      TsBrowse.render($("tables"), schemas, pick);
      performance.mark("tables-drawn");
      editor.setNames(schemas);
      performance.mark("names-sorted");
      /* Row estimates come after: the list does not wait for them. */
      fetch(base + "/web/rows", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : {}; })
        .then(function (rows) { TsBrowse.setRows($("tables"), rows); })
        .catch(function () { /* the list stands without them */ });
    })
    .catch(function (e) { $("tables").textContent = "Cannot read /tables: " + e.message; });
  $("table-filter").addEventListener("input", function (e) { TsBrowse.filter($("tables"), e.target.value); });

  var examplesReady = fetch(base + "/examples").then(function (r) { return r.text(); }).then(function (x) {
    var doc = new DOMParser().parseFromString(x, "application/xhtml+xml");
    var sel = $("examples"), all = doc.querySelectorAll('[typeof="example"]');
    Array.prototype.forEach.call(all, function (ex) {
      var q = ex.querySelector('[property="query"]'), n = ex.querySelector('[property="name"]');
      if (!q) return;
      var o = document.createElement("option");
      o.value = q.textContent;
      o.textContent = n ? n.textContent : ex.getAttribute("id");
      o.dataset.id = ex.getAttribute("id");
      sel.appendChild(o);
    });
  }).catch(function () { $("examples-box").hidden = true; });
  $("examples").addEventListener("change", function (e) {
    if (e.target.value) editor.setValue(e.target.value);
  });

  /* ---- login ----------------------------------------------------------------- */
  function loggedIn(name) {
    $("who").textContent = name ? "Logged in as " + name : "Anonymous";
    $("login-fields").hidden = !!name;
    $("logout-btn").hidden = !name;
  }
  $("login").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = $("username").value;
    fetch(ctx + "/login", form({ username: name, password: $("password").value })).then(function (r) {
      $("password").value = "";
      if (!r.ok) return r.text().then(function (t) { throw new Error(daliMessage(t)); });
      loggedIn(name);
      return jobs.load();
    }).catch(function (err) { $("who").textContent = "Login failed: " + err.message; });
  });
  $("logout-btn").addEventListener("click", function () {
    fetch(ctx + "/logout", form({})).then(function () {
      loggedIn(null);
      return jobs.load();
    });
  });
  /* Who the session cookie names (it is HttpOnly: only the server knows);
   * the job list waits for that, as it depends on it. */
  var jobsReady = fetch(base + "/web/session", { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : { user: null }; })
    .catch(function () { return { user: null }; })
    .then(function (s) { loggedIn(s.user); return jobs.load(); });
  Promise.all([tablesReady, examplesReady, jobsReady]).then(function () {
    document.body.dataset.ready = String(Math.round(performance.now()));
  });
})();
