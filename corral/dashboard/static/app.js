// corral dashboard: a hash-routed page over the JSON API (/api/...), no build step.
// Everything a queue or job holds is put on the page as text (textContent), never
// as HTML, so a payload such as "<script>" shows as what it is.
"use strict";

const STATE_ORDER = ["waiting", "prioritized", "delayed", "active", "waiting-children", "completed", "failed"];
let config = null;
let events = null;
let watching = "";
let refreshTimer = null;
let currentView = null;

// -- DOM helpers ---------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "onclick") el.addEventListener("click", value);
    else if (key === "onsubmit") el.addEventListener("submit", value);
    else if (key === "checked") el.checked = Boolean(value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function when(ms) {
  if (ms === null || ms === undefined) return "—";
  const date = new Date(ms);
  return h("time", { datetime: date.toISOString(), title: date.toISOString() }, date.toLocaleString());
}

function num(n) { return Number(n).toLocaleString(); }

function link(route, ...children) { return h("a", { href: "#" + route }, ...children); }

function queueRoute(queue, state, start) {
  let route = "/queue/" + encodeURIComponent(queue) + "/" + encodeURIComponent(state || "waiting");
  if (start) route += "/" + start;
  return route;
}

function schedulersRoute(queue) {
  return "/schedulers/" + encodeURIComponent(queue);
}

function workersRoute(queue) {
  return "/workers/" + encodeURIComponent(queue);
}

function jobRoute(queue, id) {
  return "/job/" + encodeURIComponent(queue) + "/" + encodeURIComponent(id);
}

function show(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes);
}

function crumbs(...parts) {
  document.getElementById("crumbs").replaceChildren(...parts.map((p) => (typeof p === "string" ? h("span", {}, p) : p)));
}

function toast(text, bad) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = bad ? "toast bad" : "toast";
  el.hidden = false;
  clearTimeout(el._timer);
  el._timer = setTimeout(() => { el.hidden = true; }, 4000);
}

function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

// -- API ---------------------------------------------------------------------------

async function api(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (Array.isArray(value)) value.forEach((v) => query.append(key, v));
    else if (value !== undefined && value !== null && value !== "") query.append(key, value);
  }
  const answer = await fetch("api/" + path + (query.toString() ? "?" + query : ""), {
    headers: { accept: "application/json" },
    credentials: "same-origin",
  });
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || answer.statusText);
  return body;
}

async function post(path, body) {
  const answer = await fetch("api/" + path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-corral-csrf": config.csrf_token },
    body: JSON.stringify(body),
  });
  const reply = await answer.json();
  if (!answer.ok) throw new Error(reply.error || answer.statusText);
  return reply;
}

async function act(question, path, body, done) {
  if (!(await confirmAction(question))) return;
  try {
    const reply = await post(path, body);
    toast(done(reply));
  } catch (error) {
    toast(error.message, true);
  }
  await render();
}

// -- live updates --------------------------------------------------------------------

function watch(queues) {
  const key = queues.join("\u0000");
  if (events && watching === key) return;
  if (events) events.close();
  watching = key;
  const query = new URLSearchParams();
  queues.forEach((q) => query.append("queue", q));
  events = new EventSource("api/events?" + query);
  const badge = document.getElementById("live");
  events.onopen = () => { badge.textContent = "live"; badge.className = "live on"; };
  events.onerror = () => { badge.textContent = "offline"; badge.className = "live"; };
  events.onmessage = (message) => {
    const batch = JSON.parse(message.data);
    document.body.dataset.lastEvent = batch.map((e) => e.event + ":" + (e.job_id || "")).join(" ");
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => render(true), 250);
  };
}

// -- pages ---------------------------------------------------------------------------

async function overviewPage() {
  crumbs("queues");
  const data = await api("queues");
  watch(data.queues.map((q) => q.name));
  if (!data.queues.length) {
    return [h("h1", {}, "Queues"), h("p", { class: "muted" }, "No queues in this store yet.")];
  }
  const head = h("tr", {}, h("th", {}, "queue"), STATE_ORDER.map((s) => h("th", { class: "num" }, s)),
    h("th", { class: "num", title: "in the last whole minute (workers with metrics=)" }, "completed/min"),
    h("th", { class: "num", title: "in the last whole minute (workers with metrics=)" }, "failed/min"),
    h("th", { class: "num", title: "workers taking this queue's jobs now" }, "workers"),
    h("th", {}, "status"), config.queue_actions.length ? h("th", {}, "") : null);
  const rows = data.queues.map((q) => {
    const status = [];
    if (q.paused) status.push(h("span", { class: "badge paused" }, "paused"));
    if (q.rate_limited_ms > 0) status.push(h("span", { class: "badge limited" }, "rate limited " + Math.ceil(q.rate_limited_ms / 1000) + "s"));
    if (!status.length) status.push(h("span", { class: "badge" }, "running"));
    return h("tr", { "data-queue": q.name },
      h("td", {}, link(queueRoute(q.name, "waiting"), q.name)),
      STATE_ORDER.map((s) => h("td", { class: "num", "data-state": s }, link(queueRoute(q.name, s), num(q.counts[s] || 0)))),
      ["completed", "failed"].map((kind) => h("td", { class: "num", "data-metric": kind },
        q.metrics[kind].recorded ? num(q.metrics[kind].last_minute) : "—")),
      h("td", { class: "num", "data-workers": "" }, link(workersRoute(q.name), num(q.workers))),
      h("td", {}, status),
      config.queue_actions.length ? h("td", {}, queueButton(q)) : null);
  });
  return [h("h1", {}, "Queues"), h("table", { id: "queues-table" }, h("thead", {}, head), h("tbody", {}, rows))];
}

function queueButton(q) {
  const action = q.paused ? "resume" : "pause";
  if (!config.queue_actions.includes(action)) return null;
  return h("button", {
    "data-action": action,
    onclick: () => act(`${action[0].toUpperCase() + action.slice(1)} queue "${q.name}"?`, "queue/" + action, { queue: q.name }, () => `${q.name}: ${action}d`),
  }, action);
}

async function queuePage(queue, state, start, search) {
  crumbs(link("/", "queues"), "›", queue);
  const size = 25;
  const page = await api("jobs", { queue, state, start, size, search });
  const summary = page.summary;
  watch([queue]);
  const tabs = h("div", { class: "tabs" }, STATE_ORDER.map((s) =>
    h("a", { href: "#" + queueRoute(queue, s), class: s === state ? "current" : "", "data-state": s }, `${s} (${num(summary.counts[s] || 0)})`)));
  const box = h("input", { type: "search", name: "search", placeholder: "job id, or part of a name", value: search || "" });
  const form = h("form", {
    class: "toolbar",
    onsubmit: (event) => {
      event.preventDefault();
      location.hash = queueRoute(queue, state) + (box.value ? "?search=" + encodeURIComponent(box.value) : "");
    },
  }, box, h("button", { type: "submit" }, "search"),
  summary.paused ? h("span", { class: "badge paused" }, "paused") : null,
  config.queue_actions.length ? queueButton(summary) : null);
  const rows = page.jobs.map((job) => h("tr", { "data-job": job.id },
    h("td", {}, link(jobRoute(queue, job.id), job.id)),
    h("td", {}, job.name),
    h("td", {}, h("span", { class: "badge " + job.state }, job.state)),
    h("td", {}, h("code", {}, job.data)),
    h("td", {}, when(job.timestamp)),
    h("td", {}, when(job.finished_on || job.processed_on)),
    h("td", { class: "num" }, job.attempts_made),
    h("td", { class: "reason" }, job.failed_reason || "")));
  const table = h("table", { id: "jobs-table" },
    h("thead", {}, h("tr", {}, ["id", "name", "state", "data", "created", "processed / finished", "attempts", "failure"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows));
  const parts = [h("h1", {}, queue, " ", h("a", { href: "#" + schedulersRoute(queue), class: "muted", id: "schedulers-link" }, "job schedulers"),
    " ", h("a", { href: "#" + workersRoute(queue), class: "muted", id: "workers-link" }, "workers")),
  chart(summary.metrics), tabs, form, bulkActions(queue)];
  if (page.search !== undefined) {
    parts.push(h("p", { class: "muted", id: "search-note" },
      page.scanned ? `Jobs named like "${page.search}" among the first ${num(page.scanned)} ${state} jobs` : `Job id "${page.search}"`,
      " — ", link(queueRoute(queue, state), "clear")));
  }
  parts.push(page.jobs.length ? table : h("p", { class: "muted" }, `No ${state} jobs.`));
  if (page.search === undefined && page.total > size) {
    const first = page.start + 1;
    const last = Math.min(page.start + size, page.total);
    parts.push(h("div", { class: "pager" },
      page.start > 0 ? link(queueRoute(queue, state, Math.max(0, page.start - size)), "‹ newer") : null,
      h("span", { id: "pager-range" }, `${num(first)}–${num(last)} of ${num(page.total)}`),
      last < page.total ? link(queueRoute(queue, state, page.start + size), "older ›") : null));
  }
  return parts;
}

// The queue-wide actions the dashboard offers (none when read-only), each confirmed first.
function bulkActions(queue) {
  const offered = new Set(config.queue_actions);
  const tools = [];
  const done = (reply) => reply.message;
  if (offered.has("retry-all")) {
    tools.push(h("button", {
      "data-action": "retry-all",
      onclick: () => act(`Run every failed job of "${queue}" again?`, "queue/retry-all", { queue }, done),
    }, "retry all failed"));
  }
  if (offered.has("promote-all")) {
    tools.push(h("button", {
      "data-action": "promote-all",
      onclick: () => act(`Run every delayed job of "${queue}" now?`, "queue/promote-all", { queue }, done),
    }, "promote all delayed"));
  }
  if (offered.has("clean")) {
    const state = h("select", { name: "clean-state", id: "clean-state" },
      h("option", { value: "completed" }, "completed"), h("option", { value: "failed" }, "failed"));
    const grace = h("input", { name: "clean-grace", id: "clean-grace", value: "1d", size: 5, title: "30s, 5m, 1h, 1d" });
    tools.push(h("span", { class: "group" }, "remove ", state, " jobs older than ", grace, " ",
      h("button", {
        "data-action": "clean", class: "danger",
        onclick: () => act(`Remove the ${state.value} jobs of "${queue}" older than ${grace.value}?`, "queue/clean",
          { queue, state: state.value, grace: grace.value }, done),
      }, "clean")));
  }
  if (offered.has("drain")) {
    const delayed = h("input", { type: "checkbox", name: "drain-delayed", id: "drain-delayed" });
    tools.push(h("span", { class: "group" },
      h("label", {}, delayed, " delayed too"), " ",
      h("button", {
        "data-action": "drain", class: "danger",
        onclick: () => act(`Remove every waiting${delayed.checked ? " and delayed" : ""} job of "${queue}"?`, "queue/drain",
          { queue, delayed: delayed.checked }, done),
      }, "drain")));
  }
  return tools.length ? h("div", { class: "toolbar", id: "queue-actions" }, tools) : null;
}

async function workersPage(queue) {
  crumbs(link("/", "queues"), "›", link(queueRoute(queue, "waiting"), queue), "›", "workers");
  const page = await api("workers", { queue });
  watch([queue]);
  const rows = page.workers.map((w) => h("tr", { "data-worker": w.id },
    h("td", {}, w.name || h("span", { class: "muted" }, "unnamed")), h("td", {}, w.host),
    h("td", { class: "num" }, w.pid === null ? "—" : w.pid),
    h("td", { class: "started" }, when(w.started_at)), h("td", { class: "seen" }, when(w.last_seen))));
  return [h("h1", {}, `${queue}: workers`),
    page.workers.length ? h("table", { id: "workers-table" },
      h("thead", {}, h("tr", {}, ["name", "host", "pid", "started", "last seen"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)) : h("p", { class: "muted", id: "no-workers" }, "No workers are taking this queue's jobs now.")];
}

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  el.append(...children);
  return el;
}

// Completed (up) and failed (down) jobs per minute over the last hour, newest at the right.
function chart(metrics) {
  const completed = metrics.completed.per_minute;
  const failed = metrics.failed.per_minute;
  if (!metrics.completed.recorded && !metrics.failed.recorded) {
    return h("p", { class: "muted", id: "chart" }, "No per-minute counts: start workers with metrics= to record them.");
  }
  const minutes = 60, width = 600, height = 80, middle = 50;
  const top = Math.max(1, ...completed, ...failed);
  const bar = width / minutes;
  const bars = [];
  for (let i = 0; i < minutes; i++) {
    const x = width - (i + 1) * bar;
    const c = completed[i] || 0, f = failed[i] || 0;
    const label = `${i === 0 ? "this minute" : i + " min ago"}: ${c} completed, ${f} failed`;
    if (c) bars.push(svg("rect", { class: "completed", x, width: bar - 1, y: middle - (c / top) * (middle - 2), height: (c / top) * (middle - 2) }, svg("title", {}, label)));
    if (f) bars.push(svg("rect", { class: "failed", x, width: bar - 1, y: middle, height: (f / top) * (height - middle - 2) }, svg("title", {}, label)));
  }
  return h("figure", { id: "chart" },
    svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img" }, ...bars),
    h("figcaption", { class: "muted" }, `jobs per minute, last hour: ${num(completed.reduce((a, b) => a + b, 0))} completed, ${num(failed.reduce((a, b) => a + b, 0))} failed (max ${num(top)}/min)`));
}

function payload(field) {
  if (field.error) return h("p", { class: "reason" }, field.error);
  return h("pre", {}, field.json);
}

function card(title, ...body) { return h("section", { class: "card" }, h("h2", {}, title), ...body); }

async function jobPage(queue, id) {
  crumbs(link("/", "queues"), "›", link(queueRoute(queue, "waiting"), queue), "›", id);
  const job = await api("job", { queue, id });
  watch([queue]);
  const actions = job.actions.map((action) => h("button", {
    "data-action": action,
    class: action === "remove" ? "danger" : "",
    onclick: () => act(`${action[0].toUpperCase() + action.slice(1)} job ${id} of "${queue}"?`, "job/" + action, { queue, id },
      (reply) => reply.message || (action === "remove" ? `job ${id} removed` : `job ${id} is ${reply.state}`)),
  }, action));
  const timeline = [["created", job.timestamp]];
  if (job.due) timeline.push(["due", job.due]);
  if (job.processed_on) timeline.push(["started", job.processed_on]);
  if (job.finished_on) timeline.push([job.state === "failed" ? "failed" : "finished", job.finished_on]);
  const facts = h("dl", { class: "facts" },
    h("dt", {}, "name"), h("dd", {}, job.name),
    h("dt", {}, "state"), h("dd", {}, h("span", { id: "job-state", class: "badge " + job.state }, job.state)),
    h("dt", {}, "attempts"), h("dd", {}, `${job.attempts_made} made, ${job.attempts_started} started`),
    h("dt", {}, "stalls"), h("dd", {}, job.stalled_counter),
    h("dt", {}, "priority"), h("dd", {}, job.priority || "none"),
    h("dt", {}, "processed by"), h("dd", {}, job.processed_by || "—"),
    job.scheduler ? [h("dt", {}, "scheduler"), h("dd", { id: "job-scheduler" }, link(schedulersRoute(queue), job.scheduler))] : null,
    job.parent ? [h("dt", {}, "parent"), h("dd", {}, job.parent.queue ? link(jobRoute(job.parent.queue, job.parent.id), job.parent.key) : job.parent.key)] : null);
  const sections = [
    card("Job", facts, h("div", { class: "toolbar" }, actions)),
    card("Timeline", h("ol", { class: "timeline" }, timeline.map(([what, ms]) => h("li", {}, h("strong", {}, what), " ", when(ms))))),
    card("Data", h("div", { id: "job-data" }, payload(job.data))),
    card("Options", h("pre", {}, JSON.stringify(job.opts, null, 2))),
    card("Progress", payload(job.progress)),
  ];
  if (job.state === "completed") sections.push(card("Return value", payload(job.return_value)));
  if (job.failed_reason) {
    sections.push(card("Failure", h("p", { class: "reason", id: "failed-reason" }, job.failed_reason),
      job.stacktrace.length ? h("pre", { id: "stacktrace" }, job.stacktrace[job.stacktrace.length - 1]) : null,
      job.stacktrace.length > 1 ? h("p", { class: "muted" }, `${job.stacktrace.length} stack traces kept; the newest is shown`) : null));
  }
  sections.push(card(`Logs (${job.log_count})`, job.logs.length ? h("pre", { id: "logs" }, job.logs.join("\n")) : h("p", { class: "muted" }, "No log lines.")));
  const c = job.children.counts;
  if (c.processed || c.unprocessed || c.ignored || c.failed) {
    const list = (title, items) => (items && items.length ? [h("h3", {}, title), h("ul", {}, items.map((child) => h("li", {},
      child.queue ? link(jobRoute(child.queue, child.id), child.key) : child.key, child.reason ? [" — ", h("span", { class: "reason" }, child.reason)] : null)))] : null);
    sections.push(card(`Children (${c.unprocessed} pending, ${c.processed} done, ${c.ignored} ignored, ${c.failed} failed)`,
      list("pending", job.children.unprocessed), list("done", job.children.processed),
      list("ignored", job.children.ignored), list("failed", job.children.failed)));
  }
  return [h("h1", {}, `Job ${id}`), h("div", { class: "grid" }, sections)];
}

function every(ms) {
  if (ms % 86400000 === 0) return `every ${ms / 86400000} d`;
  if (ms % 3600000 === 0) return `every ${ms / 3600000} h`;
  if (ms % 60000 === 0) return `every ${ms / 60000} min`;
  return `every ${ms / 1000} s`;
}

async function schedulersPage(queue, start) {
  crumbs(link("/", "queues"), "›", link(queueRoute(queue, "waiting"), queue), "›", "schedulers");
  const size = 25;
  const page = await api("schedulers", { queue, start, size });
  watch([queue]);
  const rows = page.schedulers.map((s) => h("tr", { "data-scheduler": s.id },
    h("td", {}, s.id), h("td", {}, s.name),
    h("td", {}, s.cron ? `cron ${s.cron}${s.tz ? " (" + s.tz + ")" : ""}` : every(s.every_ms)),
    h("td", {}, when(s.next_run)), h("td", { class: "num" }, num(s.iterations) + (s.limit ? ` / ${num(s.limit)}` : "")),
    h("td", {}, h("code", {}, s.data))));
  const parts = [h("h1", {}, `${queue}: job schedulers`)];
  parts.push(page.schedulers.length ? h("table", { id: "schedulers-table" },
    h("thead", {}, h("tr", {}, ["id", "job name", "repeats", "next run", "runs", "data"].map((t) => h("th", {}, t)))),
    h("tbody", {}, rows)) : h("p", { class: "muted" }, "No job schedulers."));
  if (page.total > size) {
    parts.push(h("div", { class: "pager" },
      page.start > 0 ? link(schedulersRoute(queue) + "/" + Math.max(0, page.start - size), "‹ previous") : null,
      h("span", {}, `${num(page.start + 1)}–${num(Math.min(page.start + size, page.total))} of ${num(page.total)}`),
      page.start + size < page.total ? link(schedulersRoute(queue) + "/" + (page.start + size), "next ›") : null));
  }
  return parts;
}

// -- routing -------------------------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, queryString] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const query = new URLSearchParams(queryString || "");
  if (parts[0] === "queue" && parts[1]) return () => queuePage(parts[1], parts[2] || "waiting", Number(parts[3] || 0), query.get("search") || "");
  if (parts[0] === "job" && parts[1] && parts[2]) return () => jobPage(parts[1], parts[2]);
  if (parts[0] === "schedulers" && parts[1]) return () => schedulersPage(parts[1], Number(parts[2] || 0));
  if (parts[0] === "workers" && parts[1]) return () => workersPage(parts[1]);
  return overviewPage;
}

async function render(live) {
  const view = location.hash;
  currentView = view;
  try {
    const nodes = await route()();
    if (currentView !== view) return;
    // A live refresh keeps what was typed or ticked in the page's fields, and the focus.
    const focused = document.activeElement && document.activeElement.name;
    const fields = live ? [...document.querySelectorAll("#main [name]")].map((el) => [el.name, el.value, el.checked]) : [];
    show(...nodes);
    for (const [name, value, checked] of fields) {
      const again = document.querySelector(`#main [name="${name}"]`);
      if (again) { again.value = value; again.checked = checked; }
    }
    if (live && focused) {
      const again = document.querySelector(`[name="${focused}"]`);
      if (again) again.focus();
    }
    document.body.dataset.rendered = String(Date.now());
  } catch (error) {
    show(h("h1", {}, "Something went wrong"), h("p", { class: "reason", id: "error" }, error.message), link("/", "back to the queues"));
  }
}

async function start() {
  config = await api("config");
  document.getElementById("store").textContent = config.store + (config.read_only ? " · read-only" : "");
  window.addEventListener("hashchange", () => render(false));
  await render(false);
}

start().catch((error) => show(h("p", { class: "reason", id: "error" }, error.message)));
