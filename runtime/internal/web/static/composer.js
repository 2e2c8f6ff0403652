// The conversation pane: the composer's two modes (reply, private note),
// drafts kept per conversation in localStorage, and the pane's forms (reply,
// note, template, retry, resolve, routing) sent with fetch and merged into
// the pane, so nothing reloads and no scroll position is lost.
//
//   window.switchboardComposer.mode("note" | "reply")  switch and focus
(function () {
  "use strict";

  function csrf() {
    var h = document.body.getAttribute("hx-headers");
    try { return h ? JSON.parse(h)["X-CSRF-Token"] : ""; } catch (e) { return ""; }
  }
  function composer() { return document.querySelector(".conv-pane .composer"); }
  function pane() { return document.querySelector(".conv-pane"); }

  // Drafts: one per conversation and mode, for this workspace and member
  // (data-draft is "<workspace>:<member>:<conversation>").
  function draftKey(c, mode) { return "switchboard:draft:" + c.getAttribute("data-draft") + ":" + mode; }
  function store() { try { return window.localStorage; } catch (e) { return null; } }
  function saveDraft(area) {
    var c = area.closest(".composer"), ls = store();
    if (!c || !ls || !c.getAttribute("data-draft")) return;
    var mode = area.id === "note" ? "note" : "reply";
    try {
      if (area.value.trim() === "") ls.removeItem(draftKey(c, mode));
      else ls.setItem(draftKey(c, mode), area.value);
    } catch (e) { /* storage full or off: the draft lives in the page only */ }
  }
  function clearDraft(c, mode) {
    var ls = store();
    if (ls && c) { try { ls.removeItem(draftKey(c, mode)); } catch (e) { /* ignore */ } }
  }

  function currentMode(c) {
    var r = c && c.querySelector('input[name="composer-mode"]:checked');
    return r ? r.value : "reply";
  }
  function setMode(mode, focus) {
    var c = composer();
    if (!c) return;
    var radio = c.querySelector('input[name="composer-mode"][value="' + mode + '"]');
    if (!radio) return;
    if (!radio.checked) {
      radio.checked = true;
      radio.dispatchEvent(new Event("change", { bubbles: true }));
    }
    if (focus) {
      var area = c.querySelector(mode === "note" ? "#note" : "#reply");
      if (area && !area.disabled) area.focus();
    }
  }

  // restore fills each empty box of a newly shown composer with its draft.
  function restore(c) {
    if (!c || c.dataset.restored === c.getAttribute("data-draft")) return;
    c.dataset.restored = c.getAttribute("data-draft");
    var ls = store();
    if (!ls) return;
    ["reply", "note"].forEach(function (mode) {
      var area = c.querySelector(mode === "note" ? "#note" : "#reply");
      var text = null;
      try { text = ls.getItem(draftKey(c, mode)); } catch (e) { /* ignore */ }
      if (area && text && area.value === "" && !area.disabled) {
        area.value = text;
        area.dispatchEvent(new Event("input", { bubbles: true })); // counters; and the live merge keeps it
      }
    });
    // Only a note in progress: open the note.
    var reply = c.querySelector("#reply"), note = c.querySelector("#note");
    if (note && note.value && !(reply && reply.value)) setMode("note", false);
  }

  // Opening a conversation shows its newest message.
  function scrollThread(p) {
    if (!p || p.dataset.scrolled === p.getAttribute("data-conversation")) return;
    p.dataset.scrolled = p.getAttribute("data-conversation");
    var list = p.querySelector(".messages");
    if (!list) return;
    if (list.scrollHeight > list.clientHeight) { list.scrollTop = list.scrollHeight; return; }
    // A phone: the page scrolls as one; bring the newest message just above
    // the composer, which sits at the bottom of the screen.
    var last = list.lastElementChild, c = composer();
    if (!last || window.innerWidth > 900) return;
    var bottom = last.getBoundingClientRect().bottom + window.scrollY;
    var room = window.innerHeight - (c ? c.offsetHeight : 0);
    if (bottom > room) window.scrollTo(0, bottom - room + 8);
  }

  function init() {
    restore(composer());
    scrollThread(pane());
    restoreListScroll();
  }

  document.addEventListener("input", function (e) {
    var t = e.target;
    if (t && (t.id === "reply" || t.id === "note") && t.closest(".composer")) saveDraft(t);
  });

  // Keys: r writes a reply, n a note (the keyboard helper may call mode()
  // too); Ctrl/Cmd+Enter sends what the box holds.
  function typing(t) {
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  document.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && e.target && (e.target.id === "reply" || e.target.id === "note") && e.target.form) {
      e.preventDefault();
      e.target.form.requestSubmit();
      return;
    }
    if (typing(e.target) || e.metaKey || e.ctrlKey || e.altKey || !composer()) return;
    if (e.key === "r") setMode("reply", false); // app.js focuses #reply
    else if (e.key === "n") { e.preventDefault(); setMode("note", false); focusOnKeyUp = "note"; }
  }, true);
  // The box takes focus once the key is up, so the "n" is not typed into it.
  var focusOnKeyUp = null;
  document.addEventListener("keyup", function () {
    if (!focusOnKeyUp) return;
    var area = document.getElementById(focusOnKeyUp);
    focusOnKeyUp = null;
    if (area && !area.disabled) area.focus();
  });

  // Errors next to the box, as forms.js shows them elsewhere.
  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error, .form-error"), function (el) { el.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid=true]"), function (el) { el.removeAttribute("aria-invalid"); });
  }
  function showError(form, err) {
    clearErrors(form);
    var p = document.createElement("p");
    p.setAttribute("role", "alert");
    p.textContent = (err && err.message) || "Something went wrong; what you typed is still here.";
    var input = err && err.field ? form.querySelector('[name="' + CSS.escape(err.field) + '"]') : null;
    if (input && input.type !== "hidden") {
      p.className = "field-error";
      input.setAttribute("aria-invalid", "true");
      input.insertAdjacentElement("afterend", p);
      input.focus();
    } else {
      p.className = "form-error";
      form.insertBefore(p, form.firstChild);
    }
  }

  // Files chosen for a reply: their names and total size next to the
  // input, and an earlier complaint about them gone.
  function sizeText(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MiB";
    if (n >= 1024) return Math.round(n / 1024) + " KiB";
    return n + " bytes";
  }
  function showChosen(input) {
    var box = input.closest(".attach"), out = box && box.querySelector(".chosen");
    if (!out) return;
    var names = [], total = 0;
    for (var i = 0; i < input.files.length; i++) { names.push(input.files[i].name); total += input.files[i].size; }
    out.textContent = names.length ? names.join(", ") + " (" + sizeText(total) + ")" : "";
  }
  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.form) return;
    clearErrors(input.form);
    showChosen(input);
  });

  // The pane's forms go by fetch; the answer is the pane, merged in.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || ev.defaultPrevented) return;
    var p = form.closest(".conv-pane");
    if (!p || (form.getAttribute("method") || "").toLowerCase() !== "post" ||
      form.hasAttribute("hx-post") || form.hasAttribute("data-plain") || form.target) return;
    ev.preventDefault();
    if (form.dataset.busy === "1") return;
    var body;
    try { body = new FormData(form, ev.submitter || null); } catch (e) { body = new FormData(form); }
    var kind = form.getAttribute("data-composer");
    var area = kind ? form.querySelector("textarea[name=body]") : null;
    var fileInput = form.querySelector("input[type=file]");
    var files = fileInput && fileInput.files ? fileInput.files : [];
    if (area && area.value.trim() === "" && files.length === 0) {
      showError(form, { field: "body", message: "The " + kind + " is empty: write something first." });
      return;
    }
    if (files.length) {
      // The server says the same; said here, nothing is uploaded in vain.
      var most = parseInt(form.getAttribute("data-max-files"), 10) || 0;
      var limit = parseInt(form.getAttribute("data-max-bytes"), 10) || 0;
      var total = 0;
      for (var i = 0; i < files.length; i++) total += files[i].size;
      if (most && files.length > most) {
        showError(form, { field: "files", message: "At most " + (most === 1 ? "1 file" : most + " files") + " with one reply (" + files.length + " chosen)." });
        return;
      }
      if (limit && total > limit) {
        showError(form, { field: "files", message: "At most " + Math.round(limit / 1048576) + " MiB of files with one reply in all." });
        return;
      }
    }
    form.dataset.busy = "1";
    form.setAttribute("aria-busy", "true");
    clearErrors(form);
    // A form with files goes as multipart/form-data; others as a plain form.
    var multipart = (form.getAttribute("enctype") || "").toLowerCase() === "multipart/form-data";
    fetch(form.action + location.search, {
      method: "POST", body: multipart ? body : new URLSearchParams(body), credentials: "same-origin",
      headers: { "HX-Request": "true", "X-CSRF-Token": csrf(), "Accept": "text/html" }
    }).then(function (res) {
      return res.text().then(function (text) {
        if (res.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search)); return; }
        var type = res.headers.get("Content-Type") || "";
        if (!res.ok || type.indexOf("text/html") !== 0) {
          var err = null;
          try { err = JSON.parse(text).error; } catch (e) { /* not JSON */ }
          showError(form, err || { message: "Something went wrong on our side (" + res.status + "); what you typed is still here." });
          return;
        }
        if (fileInput) { fileInput.value = ""; showChosen(fileInput); }
        if (area) {
          area.value = "";
          if (window.switchboardLive) window.switchboardLive.clean(area);
          clearDraft(form.closest(".composer"), kind);
          area.dispatchEvent(new Event("input", { bubbles: true }));
        } else if (form.classList.contains("template")) {
          form.reset();
        }
        var list = p.querySelector(".messages");
        var atEnd = list && list.scrollHeight - list.scrollTop - list.clientHeight < 40;
        if (window.switchboardLive) window.switchboardLive.apply(p, text);
        // What the member just sent shows at the bottom.
        if (list && (kind || atEnd)) list.scrollTop = list.scrollHeight;
      });
    }).catch(function () {
      showError(form, { message: "The server could not be reached; what you typed is still here. Try again." });
    }).then(function () {
      delete form.dataset.busy;
      form.removeAttribute("aria-busy");
    });
  }, true);

  // The list keeps its scroll position when a conversation opens (a new
  // page): remembered for this tab only.
  function listScroller() { return document.getElementById("conversation-list"); }
  window.addEventListener("pagehide", function () {
    var l = listScroller();
    if (l) { try { sessionStorage.setItem("switchboard:list-scroll", String(l.scrollTop)); } catch (e) { /* ignore */ } }
  });
  var listRestored = false;
  function restoreListScroll() {
    if (listRestored) return;
    listRestored = true;
    var l = listScroller(), top = null;
    try { top = sessionStorage.getItem("switchboard:list-scroll"); } catch (e) { /* ignore */ }
    if (l && top) l.scrollTop = parseInt(top, 10) || 0;
    var sel = l && l.querySelector(".conv.selected");
    if (sel) {
      var r = sel.getBoundingClientRect(), b = l.getBoundingClientRect();
      if (r.top < b.top || r.bottom > b.bottom) sel.scrollIntoView({ block: "nearest" });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
  document.addEventListener("live:updated", init);
  document.addEventListener("htmx:afterSwap", init);

  window.switchboardComposer = {
    mode: function (m) {
      m = m === "note" ? "note" : "reply";
      // Called from a key press: focus once the key is up, or its character
      // would be typed into the box.
      var during = window.event && window.event.type === "keydown";
      setMode(m, !during);
      if (during) focusOnKeyUp = m;
    }
  };
})();
