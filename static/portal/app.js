// Cloudstamp page behaviour. No inline scripts anywhere (the CSP forbids them).
(function () {
  "use strict";

  // Bars: widths come from data-width because inline style attributes are blocked by the CSP.
  function applyWidths(root) {
    root.querySelectorAll("[data-width]").forEach(function (el) {
      el.style.width = Math.max(0, Math.min(100, Number(el.dataset.width) || 0)) + "%";
    });
  }

  // Focus the first invalid field after a failed form submission, unless the page marks
  // an element with data-focus-on-load (a summary that lists every problem with links).
  function focusFirstError(root) {
    var invalid = root.querySelector("[data-focus-on-load]") || root.querySelector(".is-invalid, [aria-invalid='true']");
    if (invalid && typeof invalid.focus === "function") invalid.focus();
  }

  // Copy buttons (API token shown once).
  function wireCopy(root) {
    root.querySelectorAll("[data-copy-target]").forEach(function (btn) {
      if (btn.dataset.wired) return;
      btn.dataset.wired = "1";
      btn.addEventListener("click", function () {
        var target = document.getElementById(btn.dataset.copyTarget);
        if (!target) return;
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          btn.textContent = "Copied";
        });
      });
    });
  }

  function init(root) {
    applyWidths(root);
    wireCopy(root);
  }

  // Live events: one WebSocket per page; elements subscribe with data-live-event="name"
  // and are refreshed through htmx (hx-trigger="live:name from:body").
  function connectEvents() {
    var url = document.body.dataset.eventsUrl;
    if (!url || !window.WebSocket) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var delay = 1000;
    function open() {
      var ws = new WebSocket(scheme + location.host + url);
      ws.onopen = function () { delay = 1000; document.body.dataset.live = "connected"; };
      ws.onmessage = function (msg) {
        var data;
        try { data = JSON.parse(msg.data); } catch (e) { return; }
        document.body.dispatchEvent(new CustomEvent("live:" + data.event, { detail: data.payload }));
        document.body.dispatchEvent(new CustomEvent("live", { detail: data }));
      };
      ws.onclose = function (ev) {
        document.body.dataset.live = "disconnected";
        if (ev.code === 4403) return; // not allowed: do not retry in a loop
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }
    open();
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    focusFirstError(document);
    connectEvents();
  });
  document.addEventListener("htmx:afterSwap", function (ev) { init(ev.target); });
  // An outerHTML swap replaces its target, so afterSwap fires on the detached element; the
  // new content announces itself with htmx:load.
  document.addEventListener("htmx:load", function (ev) { if (ev.target !== document.body) applyWidths(ev.target); });
  // A polling region (data-polling) waits while a dialog is open: the swap would take the
  // dialog, and whatever the reader was about to confirm, away.
  document.addEventListener("htmx:beforeRequest", function (ev) {
    var elt = ev.detail && ev.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-polling") && document.querySelector(".modal.show")) {
      ev.preventDefault();
    }
  });
})();
