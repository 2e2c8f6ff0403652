// Live regions: one EventSource to /events per page, and every element with
// data-live="<event names>" and data-live-src="<url>" refreshed when one of
// its events arrives. The new HTML is merged into the region (idiomorph), so
// what a member is doing survives: the focused element and its caret, values
// they changed, checkboxes, open <details>, scroll positions. Elements marked
// data-live-keep are never touched. One fetch per region is in flight at a
// time; events meanwhile cause exactly one more fetch after it. After the
// stream reconnects, every region refreshes once (events may have been lost).
//
//   window.switchboardLive.refresh(region)   fetch and merge now
//   window.switchboardLive.apply(region, html) merge html that a write answered
//   window.switchboardLive.clean(element)    forget that the member changed it
//
// A region's fragment may be its content, or the region itself (one root
// element with the same id or data-live): both merge. After a merge the
// region fires "live:updated" (bubbling).
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch) return;

  // Form controls the member changed since the server last rendered them.
  var dirty = new WeakSet();
  function markDirty(el) {
    if (!el || !el.tagName) return;
    if (el.type === "radio" && el.name) {
      // A radio group is one value: keep all of it.
      var scope = el.form || document;
      Array.prototype.forEach.call(scope.querySelectorAll('input[type=radio][name="' + CSS.escape(el.name) + '"]'), function (r) { dirty.add(r); });
      return;
    }
    if (el.tagName === "OPTION") el = el.parentNode;
    dirty.add(el);
  }
  document.addEventListener("input", function (e) { markDirty(e.target); }, true);
  document.addEventListener("change", function (e) { markDirty(e.target); }, true);
  document.addEventListener("reset", function (e) {
    Array.prototype.forEach.call(e.target.elements || [], function (el) { dirty.delete(el); });
  }, true);

  function isControl(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT");
  }
  function currentValue(el) {
    if (el.type === "checkbox" || el.type === "radio") return el.checked ? "1" : "";
    return el.value;
  }

  var morphConfig = {
    morphStyle: "innerHTML",
    ignoreActiveValue: true,
    restoreFocus: true,
    callbacks: {
      beforeNodeMorphed: function (oldNode, newNode) {
        if (oldNode.nodeType !== 1) return true;
        if (oldNode.hasAttribute("data-live-keep")) return false;
        // The server caught up with what the member chose: it is theirs no more.
        if (isControl(oldNode) && dirty.has(oldNode) && newNode.nodeType === 1 && isControl(newNode) &&
          currentValue(oldNode) === currentValue(newNode)) {
          dirty.delete(oldNode);
        }
        return true;
      },
      beforeNodeRemoved: function (node) {
        return !(node.nodeType === 1 && node.hasAttribute("data-live-keep"));
      },
      beforeAttributeUpdated: function (name, el) {
        if (name === "open" && el.tagName === "DETAILS") return false;
        if (name === "value" || name === "checked") return !dirty.has(el);
        if (name === "selected" && el.tagName === "OPTION") {
          var sel = el.closest("select");
          return !(sel && dirty.has(sel));
        }
        return true;
      }
    }
  };

  // scrollState remembers where the region and its scrolled children are.
  function scrollState(region) {
    var saved = [];
    var all = [region].concat(Array.prototype.slice.call(region.querySelectorAll("*")));
    all.forEach(function (el) {
      if (el.scrollTop || el.scrollLeft || el.hasAttribute("data-live-stick")) {
        saved.push({
          el: el, top: el.scrollTop, left: el.scrollLeft,
          bottom: el.hasAttribute("data-live-stick") && el.scrollHeight - el.scrollTop - el.clientHeight < 40
        });
      }
    });
    return saved;
  }
  function restoreScroll(saved) {
    saved.forEach(function (s) {
      if (!s.el.isConnected) return;
      if (s.bottom) { s.el.scrollTop = s.el.scrollHeight; return; }
      if (s.el.scrollTop !== s.top) s.el.scrollTop = s.top;
      if (s.el.scrollLeft !== s.left) s.el.scrollLeft = s.left;
    });
  }

  function apply(region, html) {
    if (!region.isConnected || typeof Idiomorph === "undefined") return;
    var tpl = document.createElement("template");
    tpl.innerHTML = html;
    var roots = Array.prototype.filter.call(tpl.content.childNodes, function (n) {
      return n.nodeType === 1 || (n.nodeType === 3 && n.nodeValue.trim() !== "");
    });
    var content = tpl.content;
    // The fragment is the region itself: merge its children into the region
    // (and its attributes, but not its live wiring, which the page owns).
    if (roots.length === 1 && roots[0].nodeType === 1 &&
      ((region.id && roots[0].id === region.id) ||
        (roots[0].getAttribute("data-live") === region.getAttribute("data-live")))) {
      var root = roots[0];
      Array.prototype.forEach.call(root.attributes, function (a) {
        if (a.name !== "data-live" && a.name !== "data-live-src" && region.getAttribute(a.name) !== a.value) region.setAttribute(a.name, a.value);
      });
      content = document.createDocumentFragment();
      while (root.firstChild) content.appendChild(root.firstChild);
    }
    var saved = scrollState(region);
    Idiomorph.morph(region, content, morphConfig);
    restoreScroll(saved);
    if (window.htmx) window.htmx.process(region);
    scan();
    region.dispatchEvent(new CustomEvent("live:updated", { bubbles: true }));
  }

  var state = new WeakMap();
  function refresh(region) {
    if (!region || !region.isConnected) return;
    var st = state.get(region);
    if (!st) { st = { busy: false, again: false }; state.set(region, st); }
    if (st.busy) { st.again = true; return; }
    var src = region.getAttribute("data-live-src");
    if (!src) return;
    st.busy = true;
    fetch(src, { credentials: "same-origin", headers: { "HX-Request": "true", "Accept": "text/html" } })
      .then(function (res) {
        if (res.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search)); return null; }
        return res.ok ? res.text() : null;
      })
      .then(function (html) { if (html !== null) apply(region, html); })
      .catch(function () { /* the next event or reconnect refreshes it */ })
      .then(function () {
        st.busy = false;
        if (st.again) { st.again = false; refresh(region); }
      });
  }

  function regions() { return Array.prototype.slice.call(document.querySelectorAll("[data-live][data-live-src]")); }
  function refreshAll() { regions().forEach(refresh); }

  var source = null, listening = {}, retry = 1000;
  function onEvent(e) {
    regions().forEach(function (r) {
      if (r.getAttribute("data-live").split(/\s+/).indexOf(e.type) >= 0) refresh(r);
    });
  }
  function listen(name) {
    if (!name || listening[name] || !source) return;
    listening[name] = true;
    source.addEventListener(name, onEvent);
  }
  function scan() {
    if (!source) return;
    regions().forEach(function (r) { r.getAttribute("data-live").split(/\s+/).forEach(listen); });
  }
  function connect() {
    source = new EventSource("/events");
    listening = {};
    source.addEventListener("open", function () {
      retry = 1000;
      // Also the first time: something may have changed between the page and the stream.
      refreshAll();
    });
    source.addEventListener("error", function () {
      // The browser reconnects by itself unless the server refused the
      // stream; then try again later, more slowly each time.
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        setTimeout(function () { connect(); }, retry);
        retry = Math.min(retry * 2, 30000);
      }
    });
    scan();
  }

  function start() {
    if (!regions().length && !document.querySelector("[data-live-page]")) {
      // No live region yet: connect when the first one appears.
      new MutationObserver(function (_, obs) {
        if (regions().length) { obs.disconnect(); connect(); }
      }).observe(document.body, { childList: true, subtree: true });
      return;
    }
    connect();
    new MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();

  window.switchboardLive = {
    refresh: refresh,
    apply: apply,
    clean: function (el) { dirty.delete(el); },
    dirty: function (el) { return dirty.has(el); }
  };
})();
