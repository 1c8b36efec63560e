/* The ADQL editor: a plain <textarea> (so the form works without this file,
 * and keyboard, selection, undo and screen readers behave as everywhere),
 * with a highlighted copy of its text underneath, completion of schema,
 * table and column names, and a marker at the position of an error. */
"use strict";

var TsEditor = (function () {
  /* The parser's own words, which the server puts on the page. */
  function words(name) {
    var v = document.body ? document.body.getAttribute(name) : null;
    return v ? v.split(" ") : [];
  }
  var KEYWORDS = words("data-keywords"), FUNCTIONS = words("data-functions");
  var kwSet = {}, fnSet = {};
  KEYWORDS.forEach(function (k) { kwSet[k] = 1; });
  FUNCTIONS.forEach(function (k) { fnSet[k] = 1; });

  function esc(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  /* Tokens of ADQL text: [class, text]; class "" for plain text. */
  var TOKEN = /(--[^\n]*)|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|([\s\S])/g;
  function tokens(text) {
    var out = [], m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text)) !== null) {
      var cls = "";
      if (m[1]) cls = "com";
      else if (m[2]) cls = "str";
      else if (m[3]) cls = "qid";
      else if (m[4]) cls = "num";
      else if (m[5]) {
        var u = m[5].toUpperCase();
        if (kwSet[u]) cls = "kw";
        else if (fnSet[u] || /^IVO_|^GAIA_/.test(u)) cls = "fn";
      }
      out.push([cls, m[0]]);
    }
    return out;
  }

  /* The text's highlighted HTML; when mark is given ({start, end} as
   * character offsets), that range is wrapped in <mark class="err">. */
  function highlight(text, mark) {
    var html = "", pos = 0;
    tokens(text).forEach(function (t) {
      var s = t[1], start = pos, end = pos + s.length;
      pos = end;
      var piece = function (str) {
        return t[0] ? '<span class="tk-' + t[0] + '">' + esc(str) + "</span>" : esc(str);
      };
      if (!mark || end <= mark.start || start >= mark.end) {
        html += piece(s);
        return;
      }
      var a = Math.max(mark.start, start) - start, b = Math.min(mark.end, end) - start;
      html += piece(s.slice(0, a));
      html += '<mark class="err" id="err-mark" data-line="' + mark.line + '" data-column="' +
        mark.column + '">' + piece(s.slice(a, b)) + "</mark>";
      html += piece(s.slice(b));
    });
    /* A trailing newline needs a character after it to take up a line. */
    return html + "\n ";
  }

  /* Character offset of a 1-based line and column (columns count
   * characters, as the server's do). */
  function offsetOf(text, line, column) {
    var off = 0;
    for (var l = 1; l < line; l++) {
      var nl = text.indexOf("\n", off);
      if (nl < 0) return text.length;
      off = nl + 1;
    }
    /* Code points, not UTF-16 units: walk the line. */
    var c = 1;
    while (c < column && off < text.length && text[off] !== "\n") {
      var code = text.charCodeAt(off);
      off += code >= 0xd800 && code <= 0xdbff ? 2 : 1;
      c++;
    }
    return off;
  }

  /* The word before the caret that completion works on: letters, digits,
   * '_' and '.' (schema.table.column). */
  function wordBefore(text, caret) {
    var i = caret;
    while (i > 0 && /[A-Za-z0-9_.]/.test(text[i - 1])) i--;
    return { start: i, word: text.slice(i, caret) };
  }

  /* First index in sorted (lower-case keys) with key >= p. */
  function lowerBound(sorted, p) {
    var lo = 0, hi = sorted.length;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (sorted[mid].key < p) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function Editor(textarea, pre, list) {
    var self = this;
    this.ta = textarea;
    this.pre = pre;
    this.list = list;
    this.mark = null;
    this.names = [];      /* {key, text, kind}, sorted by key */
    this.columns = {};    /* lower-case table name (qualified and bare) -> [column names] */
    this.items = [];
    this.sel = -1;
    this.render();
    textarea.addEventListener("input", function () {
      self.mark = null;
      self.render();
      self.complete(false);
    });
    textarea.addEventListener("scroll", function () { self.syncScroll(); });
    textarea.addEventListener("keydown", function (e) { self.onKey(e); });
    textarea.addEventListener("blur", function () {
      /* Let a click on a completion land first. */
      setTimeout(function () { self.close(); }, 150);
    });
    list.addEventListener("mousedown", function (e) {
      var li = e.target.closest("li");
      if (li) {
        e.preventDefault();
        self.accept(Number(li.dataset.i));
      }
    });
    if (window.ResizeObserver)
      new ResizeObserver(function () { self.syncScroll(); }).observe(textarea);
  }

  Editor.prototype.value = function () { return this.ta.value; };

  Editor.prototype.setValue = function (text) {
    this.ta.value = text;
    this.mark = null;
    this.render();
    this.close();
  };

  Editor.prototype.render = function () {
    this.pre.innerHTML = highlight(this.ta.value, this.mark);
    this.syncScroll();
  };

  Editor.prototype.syncScroll = function () {
    this.pre.style.height = this.ta.offsetHeight + "px";
    this.pre.scrollTop = this.ta.scrollTop;
    this.pre.scrollLeft = this.ta.scrollLeft;
  };

  /* Marks one character (or the end of the text) at line/column. */
  Editor.prototype.markError = function (line, column) {
    var text = this.ta.value, start = offsetOf(text, line, column);
    var end = start < text.length ? start + 1 : start;
    if (end === start) {
      /* The error is at the end: mark the last character instead. */
      start = Math.max(0, start - 1);
      end = text.length;
    }
    this.mark = { start: start, end: end, line: line, column: column };
    this.render();
    this.ta.focus();
    this.ta.setSelectionRange(start, start);
  };

  Editor.prototype.clearMark = function () {
    this.mark = null;
    this.render();
  };

  /* Names for completion, from the table browser's tableset. */
  Editor.prototype.setNames = function (schemas) {
    var seen = {}, names = [], columns = {};
    function add(text, kind) {
      var key = text.toLowerCase() + "\u0000" + kind;
      if (seen[key]) return;
      seen[key] = 1;
      names.push({ key: text.toLowerCase(), text: text, kind: kind });
    }
    schemas.forEach(function (s) {
      add(s.name, "schema");
      s.tables.forEach(function (t) {
        add(t.name, "table");
        var bare = t.name.slice(t.name.lastIndexOf(".") + 1);
        add(bare, "table");
        var cols = t.columns.map(function (c) { return c.name; });
        columns[t.name.toLowerCase()] = cols;
        if (!columns[bare.toLowerCase()]) columns[bare.toLowerCase()] = cols;
        cols.forEach(function (c) { add(c, "column"); });
      });
    });
    KEYWORDS.concat(FUNCTIONS).forEach(function (k) { add(k, "keyword"); });
    names.sort(function (a, b) { return a.key < b.key ? -1 : a.key > b.key ? 1 : 0; });
    this.names = names;
    this.columns = columns;
  };

  /* Completions of the word before the caret: names that start with it; for
   * "table." the table's columns; for "alias." the columns of the tables
   * named in the query. At most 50. */
  Editor.prototype.candidates = function (word) {
    var out = [], lw = word.toLowerCase(), dot = lw.lastIndexOf(".");
    if (dot >= 0) {
      var left = lw.slice(0, dot), rest = lw.slice(dot + 1);
      var cols = this.columns[left] || this.aliasColumns(left);
      if (cols) {
        cols.forEach(function (c) {
          if (c.toLowerCase().indexOf(rest) === 0) out.push({ text: word.slice(0, dot + 1) + c, kind: "column" });
        });
      }
    }
    for (var i = lowerBound(this.names, lw); i < this.names.length && out.length < 50; i++) {
      var n = this.names[i];
      if (n.key.indexOf(lw) !== 0) break;
      if (n.key !== lw) out.push(n);
    }
    return out.slice(0, 50);
  };

  /* Columns of the table an alias ("s" in "FROM demo.sources AS s")
   * stands for, or null. */
  Editor.prototype.aliasColumns = function (alias) {
    var re = /([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s+(?:AS\s+)?([A-Za-z_][A-Za-z0-9_]*)/gi;
    var m, text = this.ta.value;
    while ((m = re.exec(text)) !== null) {
      if (m[2].toLowerCase() === alias && this.columns[m[1].toLowerCase()])
        return this.columns[m[1].toLowerCase()];
    }
    return null;
  };

  Editor.prototype.complete = function (force) {
    var w = wordBefore(this.ta.value, this.ta.selectionStart);
    if (this.ta.selectionStart !== this.ta.selectionEnd || (!force && w.word.length < 2 && w.word.indexOf(".") < 0)) {
      this.close();
      return;
    }
    this.word = w;
    this.items = this.candidates(w.word);
    if (!this.items.length) {
      this.close();
      return;
    }
    var html = "";
    this.items.forEach(function (it, i) {
      html += '<li role="option" id="cmp-' + i + '" data-i="' + i + '" aria-selected="' +
        (i === 0) + '">' + esc(it.text) + "<small>" + it.kind + "</small></li>";
    });
    this.list.innerHTML = html;
    this.sel = 0;
    this.list.hidden = false;
    this.ta.setAttribute("aria-activedescendant", "cmp-0");
  };

  Editor.prototype.close = function () {
    this.list.hidden = true;
    this.items = [];
    this.sel = -1;
    this.ta.removeAttribute("aria-activedescendant");
  };

  Editor.prototype.move = function (d) {
    var n = this.items.length;
    if (!n) return;
    var old = this.list.children[this.sel];
    if (old) old.setAttribute("aria-selected", "false");
    this.sel = (this.sel + d + n) % n;
    var li = this.list.children[this.sel];
    li.setAttribute("aria-selected", "true");
    li.scrollIntoView({ block: "nearest" });
    this.ta.setAttribute("aria-activedescendant", li.id);
  };

  Editor.prototype.accept = function (i) {
    var it = this.items[i];
    if (!it) return;
    var v = this.ta.value, w = this.word, end = this.ta.selectionStart;
    this.ta.value = v.slice(0, w.start) + it.text + v.slice(end);
    var caret = w.start + it.text.length;
    this.ta.setSelectionRange(caret, caret);
    this.close();
    this.mark = null;
    this.render();
    this.ta.focus();
  };

  Editor.prototype.onKey = function (e) {
    if (e.key === " " && e.ctrlKey) {
      e.preventDefault();
      this.complete(true);
      return;
    }
    if (this.list.hidden) return;
    if (e.key === "ArrowDown") { e.preventDefault(); this.move(1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); this.move(-1); }
    else if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); this.accept(this.sel); }
    else if (e.key === "Escape") { e.preventDefault(); this.close(); }
  };

  return { Editor: Editor, tokens: tokens, offsetOf: offsetOf };
})();
