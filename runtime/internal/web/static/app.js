// Switchboard runtime: bulk selection and /shortcut
// canned replies. No inline scripts (the CSP forbids them).
(function () {
  "use strict";

  // Shortcuts (j/k, r, e and the rest) are in keys.js.

  document.addEventListener("change", function (e) {
    if (e.target && e.target.id === "select-all") {
      var boxes = document.querySelectorAll('.conversations input[name="ids"]');
      for (var b = 0; b < boxes.length; b++) boxes[b].checked = e.target.checked;
    }
  });

  // Canned replies: typing "/word" at the start of a line lists matches;
  // Enter or a click inserts one.
  function setupComposer(area) {
    if (!area || area.dataset.cannedReady) return;
    area.dataset.cannedReady = "1";
    var list = area.parentNode.querySelector(".canned-suggestions");
    var items = [], sel = 0, timer = null;
    function token() {
      var upto = area.value.slice(0, area.selectionStart);
      var m = /(?:^|\n)\/([a-z0-9_-]*)$/.exec(upto);
      return m ? m[1] : null;
    }
    function close() { list.hidden = true; items = []; }
    function show() {
      list.innerHTML = "";
      items.forEach(function (c, n) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", n === sel ? "true" : "false");
        li.textContent = "/" + c.shortcut + " — " + c.title;
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); insert(c); });
        list.appendChild(li);
      });
      list.hidden = items.length === 0;
    }
    function insert(c) {
      var start = area.selectionStart, upto = area.value.slice(0, start);
      var at = upto.lastIndexOf("/");
      area.value = area.value.slice(0, at) + c.body + area.value.slice(start);
      var pos = at + c.body.length;
      area.setSelectionRange(pos, pos);
      close();
      area.focus();
    }
    area.addEventListener("input", function () {
      var t = token();
      if (t === null) { close(); return; }
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(area.dataset.canned + "?prefix=" + encodeURIComponent(t), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (data) { items = data || []; sel = 0; show(); })
          .catch(close);
      }, 120);
    });
    area.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") { sel = (sel + 1) % items.length; show(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { sel = (sel - 1 + items.length) % items.length; show(); e.preventDefault(); }
      else if (e.key === "Enter" || e.key === "Tab") { insert(items[sel]); e.preventDefault(); }
      else if (e.key === "Escape") { close(); }
    });
    area.addEventListener("blur", function () { setTimeout(close, 150); });
  }
  // SMS channels: count the parts a reply is billed as, as it is typed.
  function setupSegments(area) {
    if (!area || !area.hasAttribute("data-sms") || area.dataset.smsReady || typeof SwitchboardSMS === "undefined") return;
    area.dataset.smsReady = "1";
    var out = area.form && area.form.querySelector(".segments");
    if (!out) return;
    function update() { out.textContent = SwitchboardSMS.describe(area.value); }
    area.addEventListener("input", update);
    update();
  }

  // Templates: show the body with the variables filled in as they are typed.
  function setupTemplates(root) {
    var forms = root.querySelectorAll("form.template");
    Array.prototype.forEach.call(forms, function (form) {
      if (form.dataset.previewReady) return;
      form.dataset.previewReady = "1";
      var body = form.querySelector(".template-body");
      if (!body) return;
      form.addEventListener("input", function () {
        var text = body.dataset.body || "";
        text = text.replace(/\{\{\s*([0-9]+)\s*\}\}/g, function (m, n) {
          var input = form.querySelector('input[data-var="' + n + '"]');
          return input && input.value ? input.value : m;
        });
        body.textContent = text;
      });
    });
  }

  function init() {
    var area = document.getElementById("reply");
    setupComposer(area);
    setupSegments(area);
    setupTemplates(document);
  }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();

// Pipeline board: drag a deal card onto a column to move it. The move form
// on each card does the same without a mouse.
(function () {
  "use strict";
  var dragged = null;
  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".deal");
    if (card) { dragged = card; e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", card.dataset.deal); }
  });
  document.addEventListener("dragover", function (e) {
    var col = e.target.closest && e.target.closest(".column");
    if (col && dragged) { e.preventDefault(); col.classList.add("drop"); }
  });
  document.addEventListener("dragleave", function (e) {
    var col = e.target.closest && e.target.closest(".column");
    if (col) col.classList.remove("drop");
  });
  document.addEventListener("drop", function (e) {
    var col = e.target.closest && e.target.closest(".column");
    if (!col || !dragged) return;
    e.preventDefault();
    col.classList.remove("drop");
    var form = dragged.querySelector("form.move");
    if (form) { form.querySelector("select").value = col.dataset.stage; form.submit(); }
    dragged = null;
  });
})();

// Address fields (input[data-places], present when a Google Places
// Integration is connected): suggestions through the runtime's proxy, so
// the API key stays on the server. Each address typed is one session: its
// lookups carry one token (a fresh UUID), and picking a suggestion, which
// fetches the full address, ends it.
(function () {
  "use strict";
  function newSession() {
    return window.crypto && typeof window.crypto.randomUUID === "function" ? window.crypto.randomUUID() : null;
  }
  function setup(input) {
    if (input.dataset.placesReady || !newSession()) return; // no randomUUID (not a secure context): a plain field
    input.dataset.placesReady = "1";
    var wrap = document.createElement("span");
    wrap.className = "places-field";
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    var list = document.createElement("ul");
    list.className = "places-suggestions";
    list.id = (input.id || "address") + "-suggestions";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    wrap.appendChild(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");
    var session = null, items = [], sel = -1, timer = null, seq = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      items = [];
      sel = -1;
    }
    function note(text) {
      list.innerHTML = "";
      var li = document.createElement("li");
      li.className = "muted";
      li.textContent = text;
      list.appendChild(li);
      items = [];
      sel = -1;
      list.hidden = false;
    }
    function show() {
      list.innerHTML = "";
      if (!items.length) { close(); return; }
      items.forEach(function (s, n) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", n === sel ? "true" : "false");
        var main = document.createElement("span");
        main.textContent = s.main || s.text;
        li.appendChild(main);
        if (s.secondary) {
          var rest = document.createElement("span");
          rest.className = "secondary";
          rest.textContent = s.secondary;
          li.appendChild(rest);
        }
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); pick(s); });
        list.appendChild(li);
      });
      var by = document.createElement("li");
      by.className = "attribution";
      by.setAttribute("aria-hidden", "true");
      by.textContent = "powered by Google";
      list.appendChild(by);
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }
    function get(url) {
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
        if (r.status === 429) return { busy: true };
        if (!r.ok) throw new Error("address lookup unavailable");
        return r.json();
      });
    }
    function pick(s) {
      var token = session;
      session = null; // the details request ends the session
      seq++;
      close();
      input.value = s.text;
      get("/places/details?id=" + encodeURIComponent(s.placeId) + "&session=" + encodeURIComponent(token))
        .then(function (d) { if (d && d.address && input.value === s.text) input.value = d.address; }) // unless typed over meanwhile
        .catch(function () { note("address lookup unavailable"); });
    }
    input.addEventListener("input", function () {
      var q = input.value.trim();
      clearTimeout(timer);
      if (q.length < 3) { seq++; close(); return; }
      timer = setTimeout(function () {
        if (!session) session = newSession();
        var mine = ++seq;
        get("/places/autocomplete?q=" + encodeURIComponent(q) + "&session=" + encodeURIComponent(session))
          .then(function (d) {
            if (mine !== seq || d.busy) return;
            items = d.suggestions || [];
            sel = -1;
            show();
          })
          .catch(function () { if (mine === seq) note("address lookup unavailable"); });
      }, 250);
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { close(); return; }
      if (list.hidden || !items.length) return;
      if (e.key === "ArrowDown") { sel = (sel + 1) % items.length; show(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { sel = (sel - 1 + items.length) % items.length; show(); e.preventDefault(); }
      else if (e.key === "Enter" && sel >= 0) { pick(items[sel]); e.preventDefault(); }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }
  function init() { Array.prototype.forEach.call(document.querySelectorAll("input[data-places]"), setup); }
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSwap", init);
})();
