// @mentions: in any textarea[data-mentions], typing "@" and the start of a
// name offers the workspace's active members (GET /inbox/members?prefix=).
// Arrow keys move through them, Enter or Tab inserts the member's handle
// ("@Alex Agent", or their email address when two members share a name),
// Escape closes the list. The server reads the handle back from the note's
// text, so what is inserted is what notifies.
(function () {
  "use strict";
  if (!window.fetch) return;

  var menu = null;      // the open listbox, if any
  var field = null;     // the textarea it serves
  var items = [];       // the members offered
  var active = -1;      // the highlighted one
  var start = -1;       // where the "@" is in field's value
  var timer = 0;
  var seq = 0;          // the latest request: older answers are dropped
  var cache = {};

  // query returns the text typed after an "@" that starts a mention and
  // ends at the caret, or null. A mention starts the text or follows a
  // space or punctuation (not inside an address like ann@example.com), and
  // runs at most three words.
  function query(ta) {
    var pos = ta.selectionStart;
    if (pos !== ta.selectionEnd) return null;
    var before = ta.value.slice(Math.max(0, pos - 60), pos);
    var m = /(^|[\s([{"'<,;:!?])@([^\s@]*(?: [^\s@]*){0,2})$/.exec(before);
    if (!m || /\n/.test(m[2]) || /\s{2}|^\s/.test(m[2])) return null;
    start = pos - m[2].length - 1;
    return m[2];
  }

  function close() {
    if (menu) menu.remove();
    if (field) {
      field.setAttribute("aria-expanded", "false");
      field.removeAttribute("aria-activedescendant");
    }
    menu = null; items = []; active = -1;
  }

  function place() {
    if (!menu || !field) return;
    var r = field.getBoundingClientRect();
    menu.style.left = Math.max(4, Math.min(r.left, window.innerWidth - menu.offsetWidth - 4)) + "px";
    menu.style.width = Math.min(Math.max(r.width, 240), window.innerWidth - 8) + "px";
    // Below the box when there is room, else above it (a composer pinned
    // to the bottom of the screen).
    if (window.innerHeight - r.bottom > menu.offsetHeight + 8 || r.top < menu.offsetHeight + 8) {
      menu.style.top = (r.bottom + 4) + "px"; menu.style.bottom = "";
    } else {
      menu.style.bottom = (window.innerHeight - r.top + 4) + "px"; menu.style.top = "";
    }
  }

  function highlight(i) {
    if (!menu) return;
    active = i;
    Array.prototype.forEach.call(menu.children, function (li, j) {
      li.setAttribute("aria-selected", j === i ? "true" : "false");
    });
    if (i >= 0 && menu.children[i]) {
      field.setAttribute("aria-activedescendant", menu.children[i].id);
      menu.children[i].scrollIntoView({ block: "nearest" });
    }
  }

  function show(ta, list) {
    close();
    field = ta;
    items = list;
    if (!list.length) return;
    menu = document.createElement("ul");
    menu.className = "mention-menu";
    menu.id = "mention-menu";
    menu.setAttribute("role", "listbox");
    menu.setAttribute("aria-label", "Members to mention");
    list.forEach(function (m, i) {
      var li = document.createElement("li");
      li.id = "mention-" + m.id;
      li.setAttribute("role", "option");
      li.dataset.testid = "mention-option";
      var name = document.createElement("strong");
      name.textContent = m.name || m.email;
      var extra = document.createElement("small");
      extra.textContent = (m.name ? m.email + " · " : "") + m.role;
      li.appendChild(name);
      li.appendChild(extra);
      // mousedown, not click: the textarea keeps its focus and caret.
      li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(i); });
      menu.appendChild(li);
    });
    document.body.appendChild(menu);
    ta.setAttribute("aria-controls", menu.id);
    ta.setAttribute("aria-expanded", "true");
    place();
    highlight(0);
  }

  function pick(i) {
    var m = items[i];
    if (!m || !field) return;
    var ta = field, pos = ta.selectionStart;
    var text = "@" + m.handle + " ";
    ta.setRangeText(text, start, pos, "end");
    close();
    // Others (live.js's dirty marks, drafts) hear of the change.
    ta.dispatchEvent(new Event("input", { bubbles: true }));
    ta.focus();
  }

  function lookup(ta, q) {
    var key = q.toLowerCase();
    if (cache[key]) { show(ta, cache[key]); return; }
    var mine = ++seq;
    fetch("/inbox/members?prefix=" + encodeURIComponent(q), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) {
        cache[key] = list || [];
        // Only if the member is still typing this mention.
        if (mine === seq && document.activeElement === ta && query(ta) === q) show(ta, cache[key]);
      })
      .catch(function () {});
  }

  document.addEventListener("input", function (e) {
    var ta = e.target;
    if (!ta.matches || !ta.matches("textarea[data-mentions]")) return;
    var q = query(ta);
    clearTimeout(timer);
    if (q === null) { if (field === ta) close(); return; }
    timer = setTimeout(function () { lookup(ta, q); }, 120);
  });

  document.addEventListener("keydown", function (e) {
    if (!menu || e.target !== field) return;
    switch (e.key) {
      case "ArrowDown": e.preventDefault(); highlight((active + 1) % items.length); break;
      case "ArrowUp": e.preventDefault(); highlight((active - 1 + items.length) % items.length); break;
      case "Enter": case "Tab":
        if (active >= 0) { e.preventDefault(); e.stopPropagation(); swallow = true; pick(active); }
        break;
      case "Escape": e.preventDefault(); e.stopPropagation(); close(); break;
    }
  }, true);

  // The key that picked a member types nothing, even where its keydown
  // alone does not stop it (a separate character event).
  var swallow = false;
  document.addEventListener("beforeinput", function (e) {
    if (swallow && e.target === field && /^insert(LineBreak|Paragraph|Text)$/.test(e.inputType) &&
      (e.inputType !== "insertText" || e.data === "\t" || e.data === "\n" || e.data === "\r")) e.preventDefault();
  }, true);
  document.addEventListener("keyup", function () { swallow = false; }, true);

  document.addEventListener("focusout", function (e) { if (e.target === field) setTimeout(close, 0); });
  document.addEventListener("click", function (e) { if (e.target === field && query(field) === null) close(); });
  window.addEventListener("resize", place);
  document.addEventListener("scroll", place, true);
})();
