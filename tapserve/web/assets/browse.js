/* The table browser: {tap}/tables (VOSI tableset) fetched once, schemas and
 * tables listed at once, a table's columns drawn only when it is opened, so
 * a tableset of thousands of tables stays quick. */
"use strict";

var TsBrowse = (function () {
  var ENTITY = /&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g;
  var NAMED = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
  function decode(s) {
    if (s.indexOf("&") < 0) return s;
    return s.replace(ENTITY, function (all, e) {
      if (e[0] !== "#") return NAMED[e];
      return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    });
  }

  /* The VOSI tableset as [{name, description, tables: [{name, description,
   * columns: [{name, datatype, arraysize, unit, ucd, description}]}]}].
   * A scan with indexOf, not DOMParser (nor a regular expression): with
   * thousands of tables the document is megabytes, and building its DOM
   * took most of the page's load time. Only the children of schema, table
   * and column elements are kept. */
  function parse(xml) {
    var schemas = [], stack = [], s = null, t = null, c = null, text = "";
    var pos = 0, n = xml.length;
    if (!/^\s*(<\?[^>]*>\s*)*(<!--[\s\S]*?-->\s*)*<([\w.-]+:)?tableset[\s>]/.test(xml))
      throw new Error("/tables is not a VOSI tableset");
    while (pos < n) {
      var lt = xml.indexOf("<", pos);
      if (lt < 0) lt = n;
      if (lt > pos) text += xml.slice(pos, lt);
      if (lt >= n) break;
      var c1 = xml.charCodeAt(lt + 1), end;
      if (c1 === 33 /* ! */) {
        if (xml.startsWith("<![CDATA[", lt)) {
          end = xml.indexOf("]]>", lt);
          if (end < 0) throw new Error("/tables: unterminated CDATA");
          text += xml.slice(lt + 9, end).replace(/&/g, "&amp;");
          pos = end + 3;
        } else {
          end = xml.startsWith("<!--", lt) ? xml.indexOf("-->", lt) : xml.indexOf(">", lt);
          if (end < 0) throw new Error("/tables: unterminated declaration");
          pos = end + (xml[end] === ">" ? 1 : 3);
        }
        continue;
      }
      end = xml.indexOf(">", lt);
      if (end < 0) throw new Error("/tables: unterminated tag");
      pos = end + 1;
      if (c1 === 63 /* ? */) continue;
      var closing = c1 === 47 /* / */, from = lt + (closing ? 2 : 1), k = from;
      while (k < end) {
        var ch = xml.charCodeAt(k);
        if (ch === 32 || ch === 9 || ch === 10 || ch === 13 || ch === 47) break;
        k++;
      }
      var qname = xml.slice(from, k), local = qname.slice(qname.indexOf(":") + 1);
      if (!closing) {
        var parent = stack[stack.length - 1];
        if (local === "schema" && stack.length === 1) {
          s = { name: "", description: "", tables: [] };
          schemas.push(s);
        } else if (local === "table" && s && parent === "schema") {
          t = { name: "", description: "", columns: [] };
          s.tables.push(t);
        } else if (local === "column" && t && parent === "table") {
          c = { name: "", datatype: "", arraysize: "", unit: "", ucd: "", description: "" };
          t.columns.push(c);
        } else if (local === "dataType" && c && parent === "column") {
          var a = /\barraysize\s*=\s*["']([^"']*)["']/.exec(xml.slice(k, end));
          c.arraysize = a ? decode(a[1]) : "";
        }
        text = "";
        if (xml.charCodeAt(end - 1) !== 47) stack.push(local);
        continue;
      }
      stack.pop();
      var up = stack[stack.length - 1];
      if (local === "schema" && up !== "schema") s = null;
      else if (local === "table" && up === "schema") t = null;
      else if (local === "column" && up === "table") c = null;
      else if (c && up === "column") {
        if (local === "dataType") c.datatype = decode(text).trim();
        else if (local === "name" || local === "unit" || local === "ucd" || local === "description") c[local] = decode(text).trim();
      } else if (t && up === "table") {
        if (local === "name" || local === "description") t[local] = decode(text).trim();
      } else if (s && up === "schema") {
        if (local === "name" || local === "description") s[local] = decode(text).trim();
      }
      text = "";
    }
    return schemas;
  }

  function el(tag, attrs, txt) {
    var e = document.createElement(tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (txt !== undefined) e.textContent = txt;
    return e;
  }

  function columnsTable(t) {
    var tbl = el("table", { "class": "data" });
    var head = tbl.createTHead().insertRow();
    ["column", "type", "unit", "UCD", "description"].forEach(function (h) {
      head.appendChild(el("th", { scope: "col" }, h));
    });
    var body = tbl.createTBody();
    t.columns.forEach(function (c) {
      var r = body.insertRow();
      [c.name, c.datatype + (c.arraysize ? "[" + c.arraysize + "]" : ""), c.unit, c.ucd,
        c.description].forEach(function (v) { r.insertCell().textContent = v; });
    });
    var wrap = el("div", { "class": "scroll cols" });
    wrap.appendChild(tbl);
    return wrap;
  }

  function rowsText(n) {
    return " ~" + Number(n).toLocaleString("en") + " rows";
  }

  /* Writes row estimates ({"schema.table": n}) beside the tables drawn,
   * and keeps them for those drawn later. */
  function setRows(box, rows) {
    box.rows = rows;
    Array.prototype.forEach.call(box.querySelectorAll(".tbl"), function (r) {
      var n = rows[r.dataset.table];
      if (n !== undefined && n !== null) r.querySelector(".nrows").textContent = rowsText(n);
    });
  }

  /* Draws the schemas into box. onPick(table) runs when a table's name is
   * activated (click or keyboard). */
  function tableRow(t, onPick, rows) {
    var row = el("div", { "class": "tbl", "data-table": t.name });
    var b = el("button", { type: "button", "class": "link pick", "data-table": t.name,
      title: "Put SELECT TOP 100 * FROM " + t.name + " into the editor" }, t.name);
    b.addEventListener("click", function () { onPick(t); });
    row.appendChild(b);
    var n = rows[t.name];
    row.appendChild(el("span", { "class": "muted nrows" }, n !== undefined && n !== null ? rowsText(n) : ""));
    if (t.description) row.appendChild(el("div", { "class": "desc" }, t.description));
    var cd = el("details", { "class": "columns" });
    cd.appendChild(el("summary", {}, t.columns.length + " columns"));
    cd.addEventListener("toggle", function () {
      if (cd.open && cd.children.length === 1) cd.appendChild(columnsTable(t));
    });
    row.appendChild(cd);
    return row;
  }

  /* A schema's tables are drawn when it is first opened (small schemas of
   * a service with few are open from the start): a closed schema of a
   * thousand tables costs one line. */
  function drawTables(d) {
    if (d.drawn) return;
    d.drawn = true;
    var frag = document.createDocumentFragment();
    d.schema.tables.forEach(function (t) { frag.appendChild(tableRow(t, d.onPick, d.box.rows)); });
    d.appendChild(frag);
  }

  /* Draws the schemas into box. onPick(table) runs when a table's name is
   * activated (click or keyboard). */
  function render(box, schemas, onPick) {
    var frag = document.createDocumentFragment();
    box.rows = box.rows || {};
    schemas.forEach(function (s) {
      var d = el("details", { "class": "schema", "data-schema": s.name });
      d.schema = s;
      d.onPick = onPick;
      d.box = box;
      var sum = el("summary", {}, s.name + " ");
      sum.appendChild(el("span", { "class": "schema-desc" }, "(" + s.tables.length + " tables) " + s.description));
      d.appendChild(sum);
      d.addEventListener("toggle", function () { if (d.open) drawTables(d); });
      if (schemas.length <= 5 && s.tables.length <= 50) {
        d.open = true;
        drawTables(d);
      }
      frag.appendChild(d);
    });
    box.textContent = "";
    box.appendChild(frag);
  }

  /* Shows only the tables whose name or description contains q (drawing
   * the schemas that have some). */
  function filter(box, q) {
    q = q.toLowerCase();
    Array.prototype.forEach.call(box.querySelectorAll("details.schema"), function (d) {
      var match = function (t) {
        return !q || (t.name + " " + t.description).toLowerCase().indexOf(q) >= 0;
      };
      var any = !q || d.schema.tables.some(match);
      d.hidden = !any;
      if (!q) {
        Array.prototype.forEach.call(d.querySelectorAll(".tbl"), function (r) { r.hidden = false; });
        return;
      }
      if (!any) return;
      drawTables(d);
      d.open = true;
      var rows = d.querySelectorAll(".tbl");
      d.schema.tables.forEach(function (t, k) { rows[k].hidden = !match(t); });
    });
  }

  return { parse: parse, render: render, filter: filter, setRows: setRows };
})();
