// Forms: every post is sent with fetch, so that a refused form keeps what
// was typed and shows why next to the field (inline validation), and a
// successful one goes where the server says (post-redirect-get). htmx forms
// get the same error display. Without this script, forms still work: the
// server answers a plain post with a redirect or an error page.
(function () {
  "use strict";

  function csrf() {
    var h = document.body.getAttribute("hx-headers");
    try { return h ? JSON.parse(h)["X-CSRF-Token"] : ""; } catch (e) { return ""; }
  }

  function clearErrors(form) {
    Array.prototype.forEach.call(form.querySelectorAll(".field-error, .form-error"), function (el) { el.remove(); });
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid=true]"), function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
  }

  var seq = 0;
  // showError puts err ({message, field}) next to the field it is about, or
  // at the top of the form.
  function showError(form, err) {
    clearErrors(form);
    var msg = (err && err.message) || "Something went wrong; try again.";
    var input = null;
    if (err && err.field) {
      input = form.querySelector('[name="' + CSS.escape(err.field) + '"]') ||
        form.querySelector('[name="' + CSS.escape(err.field) + '[]"]');
    }
    var p = document.createElement("p");
    p.setAttribute("role", "alert");
    p.textContent = msg;
    if (input && input.type !== "hidden") {
      p.className = "field-error";
      p.id = "field-error-" + (++seq);
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", p.id);
      var anchor = input.closest("label") || input;
      anchor.insertAdjacentElement("afterend", p);
      input.focus();
    } else {
      p.className = "form-error";
      form.insertBefore(p, form.firstChild);
    }
  }

  function errorFrom(text, status) {
    try {
      var j = JSON.parse(text);
      if (j && j.error) return j.error;
    } catch (e) { /* not JSON */ }
    if (status === 413) return { message: "That is too large to send." };
    return { message: "Something went wrong on our side (" + status + "); what you typed is still here." };
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement) || ev.defaultPrevented) return;
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    if (form.hasAttribute("data-plain") || form.hasAttribute("hx-post") || form.target) return;
    ev.preventDefault();
    if (form.dataset.busy === "1") return;
    var body;
    try { body = new FormData(form, ev.submitter || null); } catch (e) { body = new FormData(form); }
    if (!form.enctype || form.enctype === "application/x-www-form-urlencoded") {
      var hasFile = false;
      body.forEach(function (v) { if (v instanceof File) hasFile = true; });
      if (!hasFile) body = new URLSearchParams(body);
    }
    form.dataset.busy = "1";
    form.setAttribute("aria-busy", "true");
    fetch(form.action, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-Switchboard-Form": "1", "X-CSRF-Token": csrf(), "Accept": "application/json" }
    }).then(function (res) {
      return res.text().then(function (text) {
        var type = res.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") === 0) {
          if (res.ok) {
            var j = {};
            try { j = JSON.parse(text); } catch (e) { /* empty */ }
            if (j.redirect) window.location.assign(j.redirect);
            else window.location.reload();
            return;
          }
          if (res.status === 401) {
            window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
            return;
          }
          showError(form, errorFrom(text, res.status));
          return;
        }
        // A page in answer to the post: show it as the browser would have,
        // leaving the address bar where it was.
        if (res.ok && res.redirected) { window.location.assign(res.url); return; }
        document.open(); document.write(text); document.close();
      });
    }).catch(function () {
      showError(form, { message: "The server could not be reached; what you typed is still here. Try again." });
    }).finally(function () {
      delete form.dataset.busy;
      form.removeAttribute("aria-busy");
    });
  });

  // An edit clears the error about that field.
  document.addEventListener("input", function (ev) {
    var el = ev.target;
    if (el && el.getAttribute && el.getAttribute("aria-invalid") === "true") {
      var id = el.getAttribute("aria-describedby");
      var p = id && document.getElementById(id);
      if (p) p.remove();
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    }
  });

  // htmx requests that fail show the same inline error on their form.
  document.addEventListener("htmx:responseError", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    var form = elt && (elt.tagName === "FORM" ? elt : elt.closest("form"));
    if (!form) return;
    var xhr = ev.detail.xhr;
    showError(form, errorFrom(xhr ? xhr.responseText : "", xhr ? xhr.status : 0));
  });
  document.addEventListener("htmx:sendError", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    var form = elt && (elt.tagName === "FORM" ? elt : elt.closest("form"));
    if (form) showError(form, { message: "The server could not be reached; what you typed is still here. Try again." });
  });
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    if (elt && elt.tagName === "FORM") clearErrors(elt);
  });

  // Copy buttons next to a secret shown once.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-copy]");
    if (!b) return;
    var src = b.parentNode.querySelector("[data-copy-source]");
    if (!src) return;
    src.select();
    var done = function () { b.textContent = "Copied"; };
    if (navigator.clipboard) navigator.clipboard.writeText(src.value).then(done, function () { document.execCommand("copy"); done(); });
    else { document.execCommand("copy"); done(); }
  });
})();
