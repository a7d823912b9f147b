// Live compute pages: job progress bars, VM and deployment state badges and the buttons that
// depend on them follow the tenant's events without reloading the page.
//
// - app.js owns the WebSocket and dispatches "live:job", "live:vm" and "live:deployment" on
//   <body>; this file redraws the matching elements in place from the event's payload:
//     [data-live-job=ID]            a job's progress (compute/_partials/job_progress.html)
//     [data-live-job-target=ID]     "current operation" of a deployment or VM
//     [data-live-vm=ID]             a VM's row, state card or button bar
//     [data-live-deployment=ID]     a deployment's header or list row
// - The drawing rules (badge colours, labels, which power action each state allows) come from
//   the server as JSON (#live-maps, compute/templatetags/compute_tags.py), so the badges drawn
//   here are the ones the templates draw.
// - While the socket is down, elements marked data-live-poll (work still in flight) are
//   refreshed through htmx from their small partials (hx-get, hx-trigger="live-poll").
// No inline scripts anywhere: the CSP forbids them.
(function () {
  "use strict";

  var POLL_MS = 3000;
  var ROW_REFRESH_MS = 400;
  var ZERO = "00000000-0000-0000-0000-000000000000";
  var ACTIVE = { queued: true, running: true };

  var maps = {};
  var mapsElement = document.getElementById("live-maps");
  if (mapsElement) {
    try { maps = JSON.parse(mapsElement.textContent); } catch (e) { maps = {}; }
  }

  function each(selector, fn, root) {
    (root || document).querySelectorAll(selector).forEach(fn);
  }

  function sel(name, id) {
    return "[" + name + '="' + String(id).replace(/"/g, "") + '"]';
  }

  function clamp(n) {
    return Math.max(0, Math.min(100, Number(n) || 0));
  }

  function capfirst(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
  }

  // --- badges ---------------------------------------------------------------------------------

  function badge(key, label) {
    var colour = (maps.colours || {})[key] || "light";
    var span = document.createElement("span");
    span.className = "badge state-badge text-bg-" + colour;
    span.dataset.state = key;
    if (colour === "primary") {
      var spinner = document.createElement("span");
      spinner.className = "spinner-border spinner-border-sm me-1";
      spinner.setAttribute("aria-hidden", "true");
      span.appendChild(spinner);
    }
    span.appendChild(document.createTextNode(label));
    return span;
  }

  function setBadge(holder, key, label) {
    if (!holder) return;
    var current = holder.querySelector(".state-badge");
    if (current && current.dataset.state === key && current.textContent === label) return;
    holder.replaceChildren(badge(key, label));
  }

  function setText(el, text) {
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }

  function setPolling(el, on) {
    if (!el.hasAttribute("hx-get")) return;
    if (on) el.setAttribute("data-live-poll", "");
    else el.removeAttribute("data-live-poll");
  }

  // htmx listens for "live-poll" on the element itself; the event must not bubble, or a
  // table body would reload whenever one of its rows does.
  function refresh(el) {
    if (el && el.isConnected && !leaving) el.dispatchEvent(new CustomEvent("live-poll", { bubbles: false }));
  }

  // After a form is posted the page is going away, but the socket may still bring the
  // events of that very action: fetching partials then would only be aborted.
  var leaving = false;
  window.addEventListener("beforeunload", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });

  var pending = {};
  function refreshSoon(selector) {
    if (pending[selector] || !document.querySelector(selector)) return;
    pending[selector] = setTimeout(function () {
      delete pending[selector];
      refresh(document.querySelector(selector));
    }, ROW_REFRESH_MS);
  }

  // --- jobs -----------------------------------------------------------------------------------

  function drawJob(el, job) {
    var active = !!ACTIVE[job.state];
    var bars = maps.job_bars || {};
    setBadge(
      el.querySelector("[data-job-state]"),
      job.state === "running" ? "running_job" : job.state,
      (maps.job_labels || {})[job.state] || capfirst(job.state)
    );
    var bar = el.querySelector(".progress-bar");
    if (bar) {
      bar.dataset.width = job.progress;
      bar.style.width = clamp(job.progress) + "%";
      bar.className = "progress-bar " + (active ? bars.active || "" : bars[job.state] || "");
      bar.parentElement.setAttribute("aria-valuenow", job.progress);
    }
    var percent = el.querySelector("[data-job-percent]");
    if (percent) percent.textContent = job.progress + "%";
    var step = el.querySelector("[data-job-step]");
    // A finished VM job's last step says nothing; a group's ("3 of 3 done") does.
    var done = job.state === "succeeded" && (maps.group_kinds || []).indexOf(job.kind) < 0;
    if (step) step.textContent = done ? "" : job.step ? vmLabel(job.step) : job.state === "queued" ? "Waiting for a worker" : "";
    var message = el.querySelector("[data-job-message]");
    setText(message, job.message);
    if (message) {
      message.classList.toggle("text-danger", job.state === "failed");
      message.classList.toggle("text-body-secondary", job.state !== "failed");
    }
    el.dataset.state = job.state;
    if (!active) {
      setPolling(el, false);
      hideCancel(job.id);
    }
  }

  function hideCancel(jobId) {
    each(sel("data-live-job-cancel", jobId), function (form) { form.hidden = true; });
  }

  // "Current operation" of a deployment or VM page: a new top-level job on the same target
  // (started in another tab or through the API) takes the slot.
  function followTarget(job) {
    if (job.parent) return;
    each(sel("data-live-job-target", job.target_id), function (slot) {
      var holder = slot.querySelector("[data-job-slot]");
      var shown = holder && holder.querySelector("[data-live-job]");
      if (shown && shown.dataset.liveJob === job.id) return; // drawn in place already
      if (!ACTIVE[job.state] || !holder || !window.htmx || leaving) return; // an older job ending
      var link = slot.querySelector("[data-job-link]");
      if (link) {
        link.textContent = job.label;
        link.href = slot.dataset.jobPage.replace(ZERO, job.id);
      }
      slot.hidden = false;
      window.htmx.ajax("GET", slot.dataset.jobUrl.replace(ZERO, job.id), { target: holder, swap: "innerHTML" });
    });
  }

  function onJob(job) {
    each(sel("data-live-job", job.id), function (el) { drawJob(el, job); });
    followTarget(job);
    if (job.target_type === "deployment" && !job.parent) {
      var row = sel("data-live-deployment-row", job.target_id);
      // A new operation, or one that ended: the row's counts and bar change with it.
      if (!ACTIVE[job.state] || !document.querySelector(row + " " + sel("data-live-job", job.id))) refreshSoon(row);
    }
  }

  // --- virtual machines -----------------------------------------------------------------------

  function vmAllows(action, vm) {
    if (action === "delete") return vm.provisioning_state !== "deleted" && vm.task_state !== "deleting";
    var sources = (maps.power_sources || {})[action];
    return !!sources && vm.provisioning_state === "active" && !vm.task_state && sources.indexOf(vm.power_state) >= 0;
  }

  function vmLabel(key) {
    return (maps.vm_labels || {})[key] || capfirst(String(key).replace(/_/g, " "));
  }

  function drawVm(vm, except) {
    each(sel("data-live-vm", vm.id), function (el) {
      if (el === except) return;
      el.dataset.provisioning = vm.provisioning_state;
      el.dataset.power = vm.power_state;
      el.dataset.task = vm.task_state;
      setBadge(el.querySelector("[data-vm-status]"), vm.status, vmLabel(vm.status));
      each("[data-vm-field]", function (field) {
        var name = field.dataset.vmField;
        if (name === "message") setText(field, vm.message);
        else if (name === "provisioning") field.textContent = vmLabel(vm.provisioning_state);
        else if (name === "power") field.textContent = vmLabel(vm.power_state);
        else if (name === "task") field.textContent = vm.task_state ? vmLabel(vm.task_state) : "None";
      }, el);
      each("[data-vm-action]", function (button) {
        button.disabled = !vmAllows(button.dataset.vmAction, vm);
      }, el);
      each("[data-vm-action-group] > button[data-bs-toggle]", function (button) {
        button.disabled = !vmAllows(button.parentElement.dataset.vmActionGroup, vm);
      }, el);
      var deleted = vm.provisioning_state === "deleted";
      el.classList.toggle("vm-deleted", deleted && el.tagName === "TR");
      each("[data-bulk-check]", function (box) {
        box.disabled = deleted;
        if (deleted) box.checked = false;
      }, el);
      setPolling(el, !!vm.task_state || vm.provisioning_state === "building");
    });
    // A VM this deployment's table does not show yet (scaled out): reload the table.
    each(sel("data-live-vm-table", vm.deployment), function (table) {
      if (!table.querySelector(sel("data-live-vm", vm.id))) refreshSoon(sel("data-live-vm-table", vm.deployment));
    });
    refreshSoon(sel("data-live-deployment-row", vm.deployment));
  }

  // A VM element just swapped in by polling carries the VM's state in data attributes: the
  // page's other elements for the same VM (the button bar above a polled card) follow it.
  function vmFromElement(el) {
    var ds = el.dataset;
    var message = el.querySelector("[data-vm-field='message']");
    return {
      id: ds.liveVm,
      deployment: ds.deployment,
      provisioning_state: ds.provisioning,
      power_state: ds.power,
      task_state: ds.task,
      status: ds.task || (ds.provisioning === "active" ? ds.power : ds.provisioning),
      message: message ? message.textContent.trim() : "",
    };
  }

  // --- deployments ----------------------------------------------------------------------------

  function onDeployment(d) {
    var labels = maps.deployment_labels || {};
    each(sel("data-live-deployment", d.id), function (el) {
      el.dataset.state = d.state;
      setBadge(el.querySelector("[data-deployment-state]"), d.state, labels[d.state] || capfirst(d.state));
    });
    each(sel("data-deployment-count", d.id), function (el) { el.textContent = d.instance_count; });
    var scalable = (maps.scalable || []).indexOf(d.state) >= 0;
    each(sel("data-deployment-scalable", d.id), function (fieldset) { fieldset.disabled = !scalable; });
    each(sel("data-scale-busy", d.id), function (note) { note.hidden = scalable; });
    var gone = d.state === "deleting" || d.state === "deleted";
    each(sel("data-deployment-deletable", d.id) + " button[data-bs-toggle]", function (b) { b.disabled = gone; });
    refreshSoon(sel("data-live-deployment-row", d.id));
  }

  // --- polling fallback -----------------------------------------------------------------------

  function connected() {
    return document.body.dataset.live === "connected";
  }

  function pollAll() {
    each("[data-live-poll][hx-get]", refresh);
  }

  setInterval(function () {
    if (!connected() && !document.hidden) pollAll();
  }, POLL_MS);

  // On (re)connecting, catch up once with what happened while no events could arrive.
  new MutationObserver(function () {
    if (connected()) pollAll();
  }).observe(document.body, { attributes: true, attributeFilter: ["data-live"] });

  // --- page behaviour -------------------------------------------------------------------------

  // The scale slider and its number field move together.
  function wireSliders(root) {
    each("[data-sync-input]", function (range) {
      if (range.dataset.wired) return;
      range.dataset.wired = "1";
      var input = document.getElementById(range.dataset.syncInput);
      if (!input) return;
      range.addEventListener("input", function () { input.value = range.value; });
      input.addEventListener("input", function () { if (input.value !== "") range.value = input.value; });
    }, root);
  }

  // The VM list's checkboxes: select all, the count, and bulk buttons only with a selection.
  function updateBulk() {
    var form = document.querySelector("[data-bulk-form]");
    if (!form) return;
    var boxes = Array.prototype.filter.call(document.querySelectorAll("[data-bulk-check]"), function (b) { return !b.disabled; });
    var checked = boxes.filter(function (b) { return b.checked; }).length;
    each("[data-bulk-count]", function (el) { el.textContent = checked; });
    each("[data-bulk-action]", function (button) { button.disabled = checked === 0; }, form);
    each("[data-bulk-all]", function (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    });
  }

  document.addEventListener("change", function (ev) {
    var target = ev.target;
    if (target.matches("[data-bulk-all]")) {
      each("[data-bulk-check]", function (box) { if (!box.disabled) box.checked = target.checked; });
    }
    if (target.matches("[data-bulk-all], [data-bulk-check]")) updateBulk();
  });

  function wireTooltips(root) {
    if (!window.bootstrap) return;
    each("[data-bs-toggle='tooltip']", function (el) { window.bootstrap.Tooltip.getOrCreateInstance(el); }, root);
  }

  document.body.addEventListener("live:job", function (ev) { onJob(ev.detail); });
  document.body.addEventListener("live:vm", function (ev) { drawVm(ev.detail); });
  document.body.addEventListener("live:deployment", function (ev) { onDeployment(ev.detail); });

  document.addEventListener("htmx:load", function (ev) {
    var el = ev.target;
    if (el === document.body || !el.dataset) return;
    if (el.dataset.liveVm && el.hasAttribute("data-provisioning")) drawVm(vmFromElement(el), el);
    if (el.dataset.liveJob && el.dataset.state && !ACTIVE[el.dataset.state]) hideCancel(el.dataset.liveJob);
    if (el.dataset.liveDeployment && el.dataset.instanceCount) {
      onDeployment({ id: el.dataset.liveDeployment, state: el.dataset.state, instance_count: el.dataset.instanceCount });
    }
    wireSliders(el);
    wireTooltips(el);
    updateBulk();
  });

  wireSliders(document);
  wireTooltips(document);
  updateBulk();
})();
