// Inbox keyboard and routing: shortcuts (? lists them), the command bar
// (Ctrl/Cmd+K), the sidebar's controls that apply when chosen, and the
// "Views" button on phones. No inline scripts (the CSP forbids them).
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  function csrf() {
    var h = document.body.getAttribute("hx-headers");
    try { return h ? JSON.parse(h)["X-CSRF-Token"] : ""; } catch (e) { return ""; }
  }

  // ---- Applying a sidebar change at once ----------------------------------

  function clearErrors(form) {
    $$(".field-error, .form-error", form).forEach(function (el) { el.remove(); });
    $$("[aria-invalid=true]", form).forEach(function (el) { el.removeAttribute("aria-invalid"); el.removeAttribute("aria-describedby"); });
  }
  var seq = 0;
  function showError(form, err) {
    clearErrors(form);
    var p = document.createElement("p");
    p.setAttribute("role", "alert");
    p.textContent = (err && err.message) || "Something went wrong; try again.";
    var input = err && err.field ? form.querySelector('[name="' + CSS.escape(err.field) + '"]:not([type=hidden])') : null;
    if (input && input.tagName === "BUTTON") input = null;
    if (input) {
      p.className = "field-error";
      p.id = "apply-error-" + (++seq);
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id);
      (input.closest(".inline-field") || input).insertAdjacentElement("afterend", p);
      input.focus();
    } else {
      p.className = "form-error";
      form.insertBefore(p, form.firstChild);
    }
  }
  function refreshRegions(form) {
    var live = window.switchboardLive;
    var pane = form && form.closest("[data-live]");
    var list = document.getElementById("conversation-list");
    if (live && typeof live.refresh === "function") {
      if (pane) live.refresh(pane);
      if (list && list.hasAttribute("data-live")) live.refresh(list);
      return;
    }
    window.location.reload();
  }
  // apply posts body to form's action; on success it refreshes the pane (the
  // live regions morph, keeping drafts), on failure it shows why inline.
  function apply(form, body) {
    if (!body.has("csrf")) body.set("csrf", csrf());
    form.setAttribute("aria-busy", "true");
    return fetch(form.action, {
      method: "POST", body: new URLSearchParams(body), credentials: "same-origin",
      headers: { "X-Switchboard-Form": "1", "X-CSRF-Token": csrf(), "Accept": "application/json" }
    }).then(function (res) {
      return res.text().then(function (text) {
        if (res.ok) {
          clearErrors(form);
          if (form.hasAttribute("data-reset")) form.reset();
          refreshRegions(form);
          return true;
        }
        if (res.status === 401) { window.location.assign("/login"); return false; }
        var err = null;
        try { err = JSON.parse(text).error; } catch (e) { /* not JSON */ }
        showError(form, err || { message: "Something went wrong (" + res.status + "); try again." });
        return false;
      });
    }).catch(function () {
      showError(form, { message: "The server could not be reached; try again." });
      return false;
    }).finally(function () { form.removeAttribute("aria-busy"); });
  }
  window.switchboardRouting = { apply: apply };

  document.addEventListener("change", function (e) {
    var el = e.target;
    if (!el || !el.hasAttribute || !el.hasAttribute("data-apply-field")) return;
    var form = el.form;
    if (!form || !form.hasAttribute("data-apply")) return;
    var body = new FormData();
    body.set(el.name, el.value);
    apply(form, body);
  });
  // Runs first (on window, capture phase): forms.js and the composer's
  // submit handlers then see the event handled and leave the form alone.
  window.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-apply")) return;
    e.preventDefault();
    var body;
    try { body = new FormData(form, e.submitter || null); } catch (x) {
      body = new FormData(form);
      if (e.submitter && e.submitter.name) body.set(e.submitter.name, e.submitter.value);
    }
    apply(form, body);
  }, true);

  // ---- Dialogs: help and command bar --------------------------------------

  var shortcuts = [
    ["j / k", "Next / previous conversation in this view"],
    ["r", "Reply"],
    ["n", "Private note"],
    ["e", "Resolve"],
    ["a", "Assign to me"],
    ["s", "Snooze"],
    ["l", "Label: add a tag"],
    ["Ctrl K / ⌘ K", "Command bar"],
    ["?", "This help"],
    ["Esc", "Close a dialog"]
  ];

  function dialog(id, label) {
    var d = document.getElementById(id);
    if (d) return d;
    d = document.createElement("dialog");
    d.id = id;
    d.className = "kbd-dialog";
    d.setAttribute("aria-label", label);
    document.body.appendChild(d);
    // A click on the backdrop closes it.
    d.addEventListener("click", function (e) { if (e.target === d) d.close(); });
    return d;
  }

  function openHelp() {
    var d = dialog("shortcut-help", "Keyboard shortcuts");
    if (!d.firstChild) {
      var h = document.createElement("h2");
      h.textContent = "Keyboard shortcuts";
      d.appendChild(h);
      var dl = document.createElement("dl");
      dl.className = "shortcut-list";
      shortcuts.forEach(function (s) {
        var dt = document.createElement("dt");
        s[0].split(" / ").forEach(function (k, i) {
          if (i) dt.appendChild(document.createTextNode(" / "));
          var kbd = document.createElement("kbd");
          kbd.textContent = k;
          dt.appendChild(kbd);
        });
        var dd = document.createElement("dd");
        dd.textContent = s[1];
        dl.appendChild(dt);
        dl.appendChild(dd);
      });
      d.appendChild(dl);
      var close = document.createElement("button");
      close.type = "button";
      close.textContent = "Close";
      close.addEventListener("click", function () { d.close(); });
      d.appendChild(close);
    }
    if (!d.open) d.showModal();
    var btn = d.querySelector("button");
    if (btn) btn.focus();
  }

  // Commands the bar offers on this page.
  function commands() {
    var out = [];
    $$(".views a").forEach(function (a) {
      var text = a.textContent.replace(/\s+\d+\s*$/, "").replace(/\s+/g, " ").trim();
      var group = a.hasAttribute("data-status") ? "Status: " : (a.hasAttribute("data-view") ? "Go to " : "Filter: ");
      out.push({ label: group + text, run: function () { window.location.assign(a.href); } });
    });
    $$(".conversations .conv").forEach(function (li) {
      var link = $(".conv-link", li), name = $(".conv-name", li);
      if (link && name) out.push({ label: "Open " + name.textContent.trim(), hint: "#" + li.dataset.id, run: function () { window.location.assign(link.href); } });
    });
    if ($("form.routing")) {
      out.push({ label: "Assign to me", hint: "a", run: assignMe });
      $$("#snooze-presets button[name=snooze]").forEach(function (b) {
        out.push({ label: "Snooze: " + b.textContent.replace(/\s+/g, " ").trim(), run: function () { b.click(); } });
      });
      out.push({ label: "Add a tag", hint: "l", run: label });
    }
    var resolve = $('#resolve-form button[data-key="e"]');
    if (resolve) out.push({ label: "Resolve", hint: "e", run: function () { resolve.click(); } });
    if ($("#reply")) {
      out.push({ label: "Reply", hint: "r", run: reply });
      out.push({ label: "Private note mode", hint: "n", run: note });
    }
    out.push({ label: "Go to inbox", run: function () { window.location.assign("/inbox"); } });
    out.push({ label: "Go to contacts", run: function () { window.location.assign("/contacts"); } });
    out.push({ label: "Go to companies", run: function () { window.location.assign("/companies"); } });
    out.push({ label: "Go to pipeline", run: function () { window.location.assign("/pipeline"); } });
    out.push({ label: "Go to settings", run: function () { window.location.assign("/settings"); } });
    return out;
  }

  // fuzzy scores a label against a query: every character of the query in
  // order; earlier and adjacent matches score higher. -1: no match.
  function fuzzy(q, label) {
    q = q.toLowerCase(); label = label.toLowerCase();
    if (!q) return 0;
    var at = label.indexOf(q);
    if (at >= 0) return 1000 - at;
    var score = 0, pos = -1, last = -2;
    for (var i = 0; i < q.length; i++) {
      if (q[i] === " ") continue;
      pos = label.indexOf(q[i], pos + 1);
      if (pos < 0) return -1;
      score += pos === last + 1 ? 5 : 1;
      last = pos;
    }
    return score;
  }

  function openCommands() {
    var d = dialog("command-bar", "Command bar");
    var all = commands(), shown = [], sel = 0;
    d.innerHTML = "";
    var label = document.createElement("label");
    label.className = "sr-only";
    label.setAttribute("for", "command-input");
    label.textContent = "Command";
    var input = document.createElement("input");
    input.id = "command-input";
    input.type = "text";
    input.autocomplete = "off";
    input.placeholder = "Type a command or a contact's name…";
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-expanded", "true");
    input.setAttribute("aria-controls", "command-list");
    var list = document.createElement("ul");
    list.id = "command-list";
    list.setAttribute("role", "listbox");
    d.appendChild(label);
    d.appendChild(input);
    d.appendChild(list);
    function render() {
      var q = input.value.trim();
      shown = all.map(function (c) { return { c: c, s: fuzzy(q, c.label) }; })
        .filter(function (x) { return x.s >= 0; })
        .sort(function (a, b) { return b.s - a.s; })
        .slice(0, 12).map(function (x) { return x.c; });
      if (sel >= shown.length) sel = 0;
      list.innerHTML = "";
      shown.forEach(function (c, i) {
        var li = document.createElement("li");
        li.id = "command-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", i === sel ? "true" : "false");
        li.textContent = c.label;
        if (c.hint) {
          var k = document.createElement("kbd");
          k.textContent = c.hint;
          li.appendChild(k);
        }
        li.addEventListener("mousedown", function (e) { e.preventDefault(); run(c); });
        list.appendChild(li);
      });
      if (!shown.length) {
        var none = document.createElement("li");
        none.className = "muted";
        none.textContent = "No command matches.";
        list.appendChild(none);
      }
      input.setAttribute("aria-activedescendant", shown.length ? "command-" + sel : "");
    }
    function run(c) { d.close(); c.run(); }
    input.addEventListener("input", function () { sel = 0; render(); });
    input.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { sel = shown.length ? (sel + 1) % shown.length : 0; render(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { sel = shown.length ? (sel - 1 + shown.length) % shown.length : 0; render(); e.preventDefault(); }
      else if (e.key === "Enter") { e.preventDefault(); if (shown[sel]) run(shown[sel]); }
      else if (e.key === "Tab") { e.preventDefault(); } // the only control: focus stays in the bar
    });
    render();
    if (!d.open) d.showModal();
    input.focus();
  }

  // ---- Actions -----------------------------------------------------------

  function assignMe() {
    var form = $("form.routing");
    if (!form) return;
    var body = new FormData();
    body.set("assignee", "me");
    apply(form, body);
  }
  function reply() {
    var c = window.switchboardComposer;
    if (c && typeof c.mode === "function") c.mode("reply");
    var area = $("#reply");
    if (area) area.focus();
  }
  function note() {
    var c = window.switchboardComposer;
    if (c && typeof c.mode === "function") { c.mode("note"); return; }
    var area = $("#reply");
    if (area) area.focus();
  }
  function snooze() {
    var first = $("#snooze-presets button");
    if (!first) return;
    first.scrollIntoView({ block: "nearest" });
    first.focus();
  }
  // A field takes focus once the key is up, so the key's letter is not
  // typed into it.
  var focusOnKeyUp = null;
  document.addEventListener("keyup", function () {
    var el = focusOnKeyUp;
    focusOnKeyUp = null;
    if (el && document.contains(el)) el.focus();
  });
  function label(fromKey) {
    var input = $("#add_tags");
    if (!input) return;
    input.scrollIntoView({ block: "nearest" });
    if (fromKey === true) focusOnKeyUp = input; else input.focus();
  }
  function walk(step) {
    var items = $$(".conversations .conv");
    if (!items.length) return;
    var current = $(".conv.selected") || $(".conv.cursor");
    var i = items.indexOf(current);
    var next = items[Math.max(0, Math.min(items.length - 1, i + step))] || items[0];
    var link = $(".conv-link", next);
    if (link) link.click();
  }

  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (e.key === "k" || e.key === "K")) {
      e.preventDefault();
      var bar = document.getElementById("command-bar");
      if (bar && bar.open) bar.close(); else openCommands();
      return;
    }
    if (typing(e) || e.metaKey || e.ctrlKey || e.altKey) return;
    if ($("dialog[open]")) return;
    var act = {
      "?": openHelp, j: function () { walk(1); }, k: function () { walk(-1); }, r: reply, n: note,
      a: assignMe, s: snooze, l: function () { label(true); },
      e: function () { var b = $('#resolve-form button[data-key="e"]'); if (b) b.click(); }
    }[e.key];
    if (act) { e.preventDefault(); act(); }
  });

  // ---- Phones: the Views button ------------------------------------------

  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest(".views-toggle");
    if (!b) return;
    var aside = document.getElementById(b.getAttribute("aria-controls"));
    if (!aside) return;
    var open = !aside.classList.contains("views-open");
    aside.classList.toggle("views-open", open);
    b.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) { var a = aside.querySelector("a"); if (a) a.focus(); }
  });
})();
