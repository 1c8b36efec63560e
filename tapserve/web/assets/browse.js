/* The table browser: {tap}/tables (VOSI tableset) fetched once, schemas and
 * tables listed at once, a table's columns drawn only when it is opened, so
 * a tableset of thousands of tables stays quick. */
"use strict";

var TsBrowse = (function () {
  function text(el, name) {
    for (var c = el.firstElementChild; c; c = c.nextElementSibling)
      if (c.localName === name) return c.textContent.trim();
    return "";
  }
  function children(el, name) {
    var out = [];
    for (var c = el.firstElementChild; c; c = c.nextElementSibling)
      if (c.localName === name) out.push(c);
    return out;
  }

  /* [{name, description, tables: [{name, description, nrows, columns:
   * [{name, datatype, arraysize, unit, ucd, description}]}]}] */
  function parse(xmlText) {
    var doc = new DOMParser().parseFromString(xmlText, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) throw new Error("/tables is not XML");
    return children(doc.documentElement, "schema").map(function (s) {
      return {
        name: text(s, "name"),
        description: text(s, "description"),
        tables: children(s, "table").map(function (t) {
          return {
            name: text(t, "name"),
            description: text(t, "description"),
            nrows: text(t, "nrows"),
            columns: children(t, "column").map(function (c) {
              var dt = children(c, "dataType")[0];
              return {
                name: text(c, "name"),
                datatype: dt ? dt.textContent.trim() : "",
                arraysize: dt ? dt.getAttribute("arraysize") || "" : "",
                unit: text(c, "unit"),
                ucd: text(c, "ucd"),
                description: text(c, "description")
              };
            })
          };
        })
      };
    });
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

  /* Writes row estimates ({"schema.table": n}) beside the tables. */
  function setRows(box, rows) {
    Array.prototype.forEach.call(box.querySelectorAll(".tbl"), function (r) {
      var n = rows[r.dataset.table];
      if (n !== undefined && n !== null) r.querySelector(".nrows").textContent = rowsText(n);
    });
  }

  /* Draws the schemas into box. onPick(table) runs when a table's name is
   * activated (click or keyboard). */
  function render(box, schemas, onPick) {
    var frag = document.createDocumentFragment();
    schemas.forEach(function (s) {
      var d = el("details", { "class": "schema", "data-schema": s.name });
      if (schemas.length <= 3) d.open = true;
      var sum = el("summary", {}, s.name + " ");
      sum.appendChild(el("span", { "class": "schema-desc" }, "(" + s.tables.length + " tables) " + s.description));
      d.appendChild(sum);
      s.tables.forEach(function (t) {
        var row = el("div", { "class": "tbl", "data-table": t.name });
        var b = el("button", { type: "button", "class": "link pick", "data-table": t.name,
          title: "Put SELECT TOP 100 * FROM " + t.name + " into the editor" }, t.name);
        b.addEventListener("click", function () { onPick(t); });
        row.appendChild(b);
        row.appendChild(el("span", { "class": "muted nrows" }, t.nrows ? rowsText(t.nrows) : ""));
        if (t.description) row.appendChild(el("div", { "class": "desc" }, t.description));
        var cd = el("details", { "class": "columns" });
        cd.appendChild(el("summary", {}, t.columns.length + " columns"));
        cd.addEventListener("toggle", function () {
          if (cd.open && cd.children.length === 1) cd.appendChild(columnsTable(t));
        });
        row.appendChild(cd);
        d.appendChild(row);
      });
      frag.appendChild(d);
    });
    box.textContent = "";
    box.appendChild(frag);
  }

  /* Shows only the tables whose name or description contains q. */
  function filter(box, q) {
    q = q.toLowerCase();
    Array.prototype.forEach.call(box.querySelectorAll("details.schema"), function (d) {
      var any = false;
      Array.prototype.forEach.call(d.querySelectorAll(".tbl"), function (r) {
        var show = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
        r.hidden = !show;
        any = any || show;
      });
      d.hidden = !any;
      if (q && any) d.open = true;
    });
  }

  return { parse: parse, render: render, filter: filter, setRows: setRows };
})();
