/* Results and jobs: reading the first rows of a CSV result without loading
 * the rest, drawing them as a table, and the UWS job list, kept current by
 * WAIT long-polls on each active job (UWS 1.1), not by a timer. */
"use strict";

var TsJobs = (function () {
  var UWS = "http://www.ivoa.net/xml/UWS/v1.0";
  var ACTIVE = { PENDING: 1, QUEUED: 1, EXECUTING: 1, SUSPENDED: 1 };
  /* Browsers open about six connections per server: long-polls take at
   * most this many, so the page's other requests never wait behind them. */
  var MAX_WATCHERS = 3;

  /* Reads CSV records (RFC 4180 quoting) from a Response, stopping (and
   * cancelling the rest of the transfer) once `want` records after the
   * header are in. Resolves {header, rows, more}. */
  function readCsv(resp, skip, want) {
    var reader = resp.body.getReader(), dec = new TextDecoder("utf-8");
    var header = null, rows = [], rec = [], field = "", quoted = false, afterQuote = false;
    var seen = 0, done = false, more = false;
    function endRecord() {
      rec.push(field);
      field = "";
      if (header === null) header = rec;
      else if (seen++ >= skip) {
        if (rows.length < want) rows.push(rec);
        else { more = true; done = true; }
      }
      rec = [];
    }
    function feed(s) {
      for (var i = 0; i < s.length && !done; i++) {
        var ch = s[i];
        if (quoted) {
          if (ch === '"') { quoted = false; afterQuote = true; }
          else field += ch;
        } else if (ch === '"') {
          if (afterQuote) field += '"';
          quoted = true;
          afterQuote = false;
        } else {
          afterQuote = false;
          if (ch === ",") { rec.push(field); field = ""; }
          else if (ch === "\n") endRecord();
          else if (ch !== "\r") field += ch;
        }
      }
    }
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) {
          feed(dec.decode());
          if (!done && (field !== "" || rec.length)) endRecord();
          return;
        }
        feed(dec.decode(r.value, { stream: true }));
        if (done) return reader.cancel().catch(function () {});
        return pump();
      });
    }
    return pump().then(function () {
      return { header: header || [], rows: rows, more: more };
    });
  }

  function dataTable(res, firstRow) {
    var wrap = document.createElement("div");
    wrap.className = "scroll";
    var t = document.createElement("table");
    t.className = "data";
    var hr = t.createTHead().insertRow();
    var th = document.createElement("th");
    th.textContent = "#";
    th.scope = "col";
    hr.appendChild(th);
    res.header.forEach(function (h) {
      var c = document.createElement("th");
      c.scope = "col";
      c.textContent = h;
      hr.appendChild(c);
    });
    var body = t.createTBody();
    res.rows.forEach(function (r, i) {
      var tr = body.insertRow();
      var n = document.createElement("th");
      n.scope = "row";
      n.textContent = String(firstRow + i + 1);
      tr.appendChild(n);
      r.forEach(function (v) { tr.insertCell().textContent = v; });
    });
    wrap.appendChild(t);
    return wrap;
  }

  /* ---- UWS documents ---------------------------------------------------- */
  function uwsText(parent, name) {
    var e = parent.getElementsByTagNameNS(UWS, name)[0];
    return e ? e.textContent.trim() : "";
  }

  function parseJob(xml) {
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    var j = doc.documentElement;
    if (!j || j.localName !== "job") return null;
    var info = j.getElementsByTagNameNS(UWS, "jobInfo")[0];
    var infoText = function (name) {
      var e = info ? info.getElementsByTagName(name)[0] : null;
      return e ? e.textContent.trim() : "";
    };
    var msg = j.getElementsByTagNameNS(UWS, "errorSummary")[0];
    return {
      id: uwsText(j, "jobId"),
      phase: uwsText(j, "phase"),
      owner: uwsText(j, "ownerId"),
      created: uwsText(j, "creationTime"),
      started: uwsText(j, "startTime"),
      ended: uwsText(j, "endTime"),
      size: infoText("storedBytes"),
      rows: infoText("rows") + (infoText("overflow") === "true" ? " (MAXREC)" : ""),
      error: msg ? msg.textContent.trim() : "",
      query: (function () {
        var ps = j.getElementsByTagNameNS(UWS, "parameter");
        for (var i = 0; i < ps.length; i++)
          if (ps[i].getAttribute("id") === "query") return ps[i].textContent;
        return "";
      })()
    };
  }

  function parseJobList(xml) {
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    var refs = doc.getElementsByTagNameNS(UWS, "jobref"), out = [];
    for (var i = 0; i < refs.length; i++)
      out.push({ id: refs[i].getAttribute("id"), phase: uwsText(refs[i], "phase"),
        created: uwsText(refs[i], "creationTime") });
    return out;
  }

  function human(n) {
    if (n === "" || n === undefined) return "";
    n = Number(n);
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + u[i];
  }

  function time(iso) {
    return iso ? iso.replace("T", " ").replace(/\.\d+Z?$|Z$/, "") : "";
  }

  /* ---- the job list ------------------------------------------------------ */
  /* base: the service path; box: where the list goes; resultBox: previews;
   * formats: output format names; onError(message). */
  function List(base, box, resultBox, formats) {
    this.base = base;
    this.box = box;
    this.resultBox = resultBox;
    this.formats = formats;
    this.jobs = {};      /* id -> job */
    this.order = [];     /* ids, newest first */
    this.watching = {};  /* id -> 1 while a long-poll is out */
    this.nwatch = 0;
    this.known = this.remembered();
  }

  /* Jobs this browser created: anonymous jobs are reachable by their id
   * only, so the page keeps the ids it made. */
  List.prototype.remembered = function () {
    try { return JSON.parse(localStorage.getItem("tapserve.jobs") || "[]"); } catch (e) { return []; }
  };
  List.prototype.remember = function () {
    try { localStorage.setItem("tapserve.jobs", JSON.stringify(this.known.slice(0, 100))); } catch (e) { /* private mode */ }
  };

  List.prototype.url = function (id, sub) {
    return this.base + "/async/" + encodeURIComponent(id) + (sub || "");
  };

  List.prototype.resultUrl = function (id, fmt) {
    return location.origin + this.url(id, "/results/result") + (fmt ? "?RESPONSEFORMAT=" + encodeURIComponent(fmt) : "");
  };

  /* The list: the caller's jobs from {tap}/async (the newest 50), and the
   * ones this browser made. */
  List.prototype.load = function () {
    var self = this;
    return fetch(this.base + "/async?LAST=50", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (xml) {
        var ids = xml ? parseJobList(xml).map(function (j) { return j.id; }) : [];
        self.known.forEach(function (id) { if (ids.indexOf(id) < 0) ids.push(id); });
        return Promise.all(ids.map(function (id) { return self.refresh(id); }));
      })
      .then(function () { self.draw(); });
  };

  /* Fetches one job; a job that is gone leaves the list. */
  List.prototype.refresh = function (id) {
    var self = this;
    return fetch(this.url(id), { credentials: "same-origin" }).then(function (r) {
      if (r.status === 404 || r.status === 403 || r.status === 401) {
        self.forget(id);
        return null;
      }
      return r.text().then(function (xml) {
        var j = parseJob(xml);
        if (j) self.put(j);
        return j;
      });
    });
  };

  List.prototype.put = function (j) {
    if (!this.jobs[j.id]) {
      this.order.push(j.id);
      var jobs = this.jobs;
      jobs[j.id] = j;
      this.order.sort(function (a, b) { return (jobs[b].created || "").localeCompare(jobs[a].created || ""); });
    }
    this.jobs[j.id] = j;
    if (ACTIVE[j.phase]) this.watch(j.id);
  };

  List.prototype.forget = function (id) {
    delete this.jobs[id];
    this.order = this.order.filter(function (x) { return x !== id; });
    this.known = this.known.filter(function (x) { return x !== id; });
    this.remember();
  };

  List.prototype.add = function (id) {
    if (this.known.indexOf(id) < 0) {
      this.known.unshift(id);
      this.remember();
    }
    var self = this;
    return this.refresh(id).then(function () { self.draw(); });
  };

  /* One long-poll after another while the job is active: the answer comes
   * when its phase changes (or after 30 s), and the row is redrawn. */
  List.prototype.watch = function (id) {
    var self = this;
    if (this.watching[id] || this.nwatch >= MAX_WATCHERS) return;
    this.watching[id] = 1;
    this.nwatch++;
    var j = this.jobs[id];
    var url = this.url(id) + "?WAIT=30&PHASE=" + encodeURIComponent(j.phase);
    fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (r.status === 404) { self.forget(id); return null; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text().then(parseJob);
    }).then(function (nj) {
      self.watching[id] = 0;
      self.nwatch--;
      if (nj && self.jobs[id]) {
        self.jobs[id] = nj;
        if (ACTIVE[nj.phase]) self.watch(id);
      }
      self.draw();
      self.watchNext();
    }, function () {
      /* The server went away or the network did: look again in a while
       * rather than in a tight loop. */
      self.watching[id] = 0;
      self.nwatch--;
      setTimeout(function () { if (self.jobs[id] && ACTIVE[self.jobs[id].phase]) self.watch(id); }, 5000);
    });
  };

  List.prototype.watchNext = function () {
    for (var i = 0; i < this.order.length && this.nwatch < MAX_WATCHERS; i++) {
      var j = this.jobs[this.order[i]];
      if (j && ACTIVE[j.phase] && !this.watching[j.id]) this.watch(j.id);
    }
  };

  List.prototype.post = function (id, sub, params) {
    var body = new URLSearchParams(params);
    return fetch(this.url(id, sub), { method: "POST", body: body, credentials: "same-origin" });
  };

  List.prototype.abort = function (id) {
    var self = this;
    return this.post(id, "/phase", { PHASE: "ABORT" }).then(function () { return self.refresh(id); })
      .then(function () { self.draw(); });
  };

  List.prototype.remove = function (id) {
    var self = this;
    return fetch(this.url(id), { method: "DELETE", credentials: "same-origin" }).then(function (r) {
      if (r.ok || r.status === 404 || r.status === 303) self.forget(id);
      self.draw();
    });
  };

  List.prototype.draw = function () {
    var self = this, box = this.box;
    box.closest("section").hidden = false;
    if (!this.order.length) {
      box.textContent = "No jobs yet.";
      return;
    }
    var t = document.createElement("table");
    t.className = "data";
    var hr = t.createTHead().insertRow();
    ["job", "phase", "created", "started", "ended", "rows", "stored", ""].forEach(function (h) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = h;
      hr.appendChild(th);
    });
    var body = t.createTBody();
    this.order.forEach(function (id) {
      var j = self.jobs[id];
      var tr = body.insertRow();
      tr.id = "job-" + id;
      tr.dataset.job = id;
      tr.dataset.phase = j.phase;
      var c0 = tr.insertCell();
      var a = document.createElement("a");
      a.href = self.url(id);
      a.textContent = id.length > 12 ? id.slice(0, 12) + "…" : id;
      a.title = j.query || id;
      c0.appendChild(a);
      var ph = tr.insertCell();
      ph.className = "phase phase-" + j.phase;
      ph.textContent = j.phase;
      if (j.error) ph.title = j.error;
      /* Times of day, the dates in the tooltip: a row stays narrow. */
      [j.created, j.started, j.ended].forEach(function (v) {
        var c = tr.insertCell();
        c.textContent = time(v).slice(11);
        c.title = time(v);
      });
      [j.rows, human(j.size)].forEach(function (v) { tr.insertCell().textContent = v; });
      var act = tr.insertCell();
      act.className = "actions";
      function button(label, cls, fn) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = cls;
        b.textContent = label;
        b.addEventListener("click", fn);
        act.appendChild(b);
      }
      if (j.phase === "COMPLETED") button("Preview", "preview", function () { self.preview(id, 0); });
      if (ACTIVE[j.phase]) button("Abort", "abort", function () { self.abort(id); });
      button("Delete", "delete", function () { self.remove(id); });
    });
    box.textContent = "";
    var wrap = document.createElement("div");
    wrap.className = "scroll";
    wrap.appendChild(t);
    box.appendChild(wrap);
  };

  var PAGE = 50;

  /* A page of a job's result: rows [page*50, page*50+50) of its CSV form,
   * read as far as needed and no further. */
  List.prototype.preview = function (id, page) {
    var self = this, box = this.resultBox;
    box.textContent = "Loading…";
    return fetch(this.resultUrl(id, "csv"), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return readCsv(r, page * PAGE, PAGE);
    }).then(function (res) {
      box.textContent = "";
      var h = document.createElement("h3");
      h.textContent = "Result of job " + id;
      box.appendChild(h);
      box.appendChild(self.links(id));
      var pager = document.createElement("div");
      pager.className = "pager";
      var prev = document.createElement("button");
      prev.type = "button";
      prev.textContent = "Previous rows";
      prev.className = "prev";
      prev.disabled = page === 0;
      prev.addEventListener("click", function () { self.preview(id, page - 1); });
      var next = document.createElement("button");
      next.type = "button";
      next.textContent = "Next rows";
      next.className = "next";
      next.disabled = !res.more;
      next.addEventListener("click", function () { self.preview(id, page + 1); });
      var where = document.createElement("span");
      where.textContent = res.rows.length ? "rows " + (page * PAGE + 1) + "–" + (page * PAGE + res.rows.length) : "no rows";
      pager.appendChild(prev);
      pager.appendChild(where);
      pager.appendChild(next);
      box.appendChild(pager);
      var t = dataTable(res, page * PAGE);
      t.id = "job-preview";
      box.appendChild(t);
    }).catch(function (e) {
      box.textContent = "Cannot read the result: " + e.message;
    });
  };

  /* Download links in every format, and the plain URL for TOPCAT's "Load
   * table" (File > Load Table > Location). */
  List.prototype.links = function (id) {
    var self = this, d = document.createElement("div");
    var p = document.createElement("p");
    p.className = "downloads";
    p.appendChild(document.createTextNode("Download: "));
    this.formats.forEach(function (f) {
      var a = document.createElement("a");
      a.href = self.resultUrl(id, f);
      a.textContent = f;
      a.setAttribute("download", "");
      a.dataset.format = f;
      p.appendChild(a);
      p.appendChild(document.createTextNode(" ")); /* where a narrow screen may break the line */
    });
    d.appendChild(p);
    var l = document.createElement("label");
    l.className = "url-box";
    l.textContent = "URL for TOPCAT's Load Table: ";
    var u = document.createElement("input");
    u.readOnly = true;
    u.className = "plain-url";
    u.id = "topcat-url";
    u.value = this.resultUrl(id, "votable");
    u.addEventListener("focus", function () { u.select(); });
    l.appendChild(u);
    d.appendChild(l);
    return d;
  };

  return { readCsv: readCsv, dataTable: dataTable, List: List, parseJob: parseJob, ACTIVE: ACTIVE };
})();
