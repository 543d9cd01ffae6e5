// The operator dashboard: polls the node's JSON API every second and renders it. Plain browser
// script, no dependency, no build step; served under a CSP that allows only this node, so it uses
// no inline script or style, no eval, and no other host.
"use strict";

(() => {
  const POLL_MS = 1000;
  /** How much history the charts keep, in ms. */
  const HISTORY_MS = 5 * 60 * 1000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  /** The admin token: in this variable only, for the page's life; never in the URL or storage. */
  let adminToken = "";
  /** The action that was refused with a 401, retried once a token is given. */
  let pendingAction = null;
  /** One sample per poll: time, total allowed and blocked per second, slowest Up node's p99. */
  const history = [];
  /** Errors of the current poll, by request; the status shows the last one. */
  let actionError = "";

  const $ = (id) => document.getElementById(id);

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function authHeaders() {
    return adminToken === "" ? {} : { Authorization: `Bearer ${adminToken}` };
  }

  /** Fetches `path` from this node; throws an `HttpError` with the API's message on a non-2xx. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json", ...authHeaders() };
    const init = { method, headers, cache: "no-store", credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (error) {
      throw new HttpError(0, `${method} ${path}: the node did not answer (${error.message})`);
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const message = data?.error?.message ?? res.statusText;
      throw new HttpError(res.status, `${method} ${path}: ${res.status} ${message}`);
    }
    return data;
  }

  function askForToken() {
    const section = $("auth-needed");
    if (section.hidden) {
      section.hidden = false;
      $("admin-token").focus();
    }
  }

  // ---- formatting ----

  function num(value) {
    if (typeof value !== "number" || !Number.isFinite(value)) return "–";
    return String(Math.round(value * 10) / 10);
  }

  function age(iso, nowMs) {
    const ms = nowMs - Date.parse(iso);
    if (!Number.isFinite(ms)) return "–";
    const s = Math.max(0, Math.round(ms / 1000));
    return s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
  }

  function cell(row, field, className) {
    let td = row.querySelector(`[data-field="${field}"]`);
    if (td === null) {
      td = document.createElement("td");
      td.dataset.field = field;
      if (className) td.className = className;
      row.append(td);
    }
    return td;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  /**
   * Makes `container`'s children one element per item, in order, keyed by `data-<keyAttr>`:
   * existing elements are updated in place (a focused button keeps its focus), new ones created,
   * gone ones removed.
   */
  function reconcile(container, items, keyAttr, keyOf, create, update) {
    const existing = new Map();
    for (const el of container.children) existing.set(el.getAttribute(`data-${keyAttr}`), el);
    const wanted = new Set();
    let previous = null;
    for (const item of items) {
      const key = keyOf(item);
      if (wanted.has(key)) continue;
      wanted.add(key);
      let el = existing.get(key);
      if (el === undefined) {
        el = create(key);
        el.setAttribute(`data-${keyAttr}`, key);
      }
      update(el, item);
      const expected = previous === null
        ? container.firstElementChild
        : previous.nextElementSibling;
      if (expected !== el) container.insertBefore(el, expected);
      previous = el;
    }
    for (const [key, el] of existing) if (!wanted.has(key)) el.remove();
  }

  // ---- nodes ----

  function renderCluster(cluster) {
    const now = Date.parse(cluster.generated_at) || Date.now();
    const tbody = $("nodes").tBodies[0];
    reconcile(tbody, cluster.nodes, "node-id", (n) => String(n.id), () => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.dataset.field = "id";
      tr.append(th);
      return tr;
    }, (tr, node) => {
      setText(tr.querySelector('[data-field="id"]'), String(node.id));
      setText(cell(tr, "address"), String(node.address ?? ""));
      const state = cell(tr, "state");
      setText(state, node.state === "Up" ? "Up" : "Down");
      state.className = `state-${state.textContent}`;
      tr.classList.toggle("down", node.state !== "Up");
      setText(cell(tr, "version"), String(node.version ?? "–"));
      const heartbeat = cell(tr, "heartbeat");
      setText(heartbeat, node.last_heartbeat ? age(node.last_heartbeat, now) : "–");
      heartbeat.title = node.last_heartbeat ?? "";
      setText(cell(tr, "allowed", "num"), num(node.allowed_per_second));
      setText(cell(tr, "blocked", "num"), num(node.blocked_per_second));
      setText(cell(tr, "p99", "num"), num(node.p99_check_ms));
      const store = node.store ? `${node.store.kind} ${node.store.status}` : "–";
      setText(cell(tr, "store"), store);
      setText(cell(tr, "circuit"), node.circuit_state ?? "–");
    });
    setText($("total-allowed"), num(cluster.totals.allowed_per_second));
    setText($("total-blocked"), num(cluster.totals.blocked_per_second));

    const p99s = cluster.nodes
      .filter((n) => n.state === "Up" && typeof n.p99_check_ms === "number")
      .map((n) => n.p99_check_ms);
    record({
      allowed: cluster.totals.allowed_per_second,
      blocked: cluster.totals.blocked_per_second,
      p99: p99s.length > 0 ? Math.max(...p99s) : null,
    });
  }

  function record(sample) {
    const t = Date.now();
    history.push({ t, ...sample });
    while (history.length > 0 && history[0].t < t - HISTORY_MS) history.shift();
  }

  // ---- charts ----

  function svgEl(name, attrs, text) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  /** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`. */
  function niceMax(max) {
    if (!(max > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(max));
    for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
    return 10 * p;
  }

  /** Draws `series` (each `{ field, className }`) of `history` into the container `id`. */
  function drawChart(id, label, series) {
    const W = 600, H = 160, L = 44, R = 8, T = 10, B = 20;
    const now = Date.now();
    const values = [];
    for (const s of series) {
      for (const h of history) if (typeof h[s.field] === "number") values.push(h[s.field]);
    }
    const top = niceMax(Math.max(0, ...values));
    const x = (t) => L + (W - L - R) * (1 - (now - t) / HISTORY_MS);
    const y = (v) => T + (H - T - B) * (1 - v / top);
    const svg = svgEl("svg", {
      viewBox: `0 0 ${W} ${H}`,
      preserveAspectRatio: "none",
      role: "img",
      "aria-label": label,
    });
    svg.append(svgEl("title", {}, label));
    for (const v of [0, top / 2, top]) {
      svg.append(svgEl("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      svg.append(
        svgEl("text", { class: "axis", x: L - 4, y: y(v) + 4, "text-anchor": "end" }, num(v)),
      );
    }
    svg.append(svgEl("text", { class: "axis", x: L, y: H - 4 }, "−5 min"));
    svg.append(svgEl("text", { class: "axis", x: W - R, y: H - 4, "text-anchor": "end" }, "now"));
    for (const s of series) {
      // A gap (no value) breaks the line rather than drawing it through zero.
      let points = [];
      const flush = () => {
        if (points.length > 0) {
          svg.append(svgEl("polyline", { class: `line ${s.className}`, points: points.join(" ") }));
        }
        points = [];
      };
      for (const h of history) {
        const v = h[s.field];
        if (typeof v === "number" && Number.isFinite(v)) {
          points.push(`${x(h.t).toFixed(1)},${y(v).toFixed(1)}`);
        } else flush();
      }
      flush();
    }
    $(id).replaceChildren(svg);
  }

  function drawCharts() {
    const last = history[history.length - 1];
    drawChart(
      "chart-rates",
      last
        ? `Checks per second over the last 5 minutes; now ${num(last.allowed)} allowed, ${
          num(last.blocked)
        } blocked`
        : "Checks per second: no data yet",
      [{ field: "allowed", className: "allowed" }, { field: "blocked", className: "blocked" }],
    );
    drawChart(
      "chart-latency",
      last && last.p99 !== null
        ? `p99 check latency over the last 5 minutes; now ${num(last.p99)} ms`
        : "p99 check latency: no data yet",
      [{ field: "p99", className: "latency" }],
    );
  }

  // ---- keys ----

  function keyItem(key) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = key;
    const figures = document.createElement("span");
    figures.className = "figures";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "reset";
    button.textContent = "Reset";
    button.setAttribute("aria-label", `Reset the counter of ${key}`);
    button.addEventListener("click", () => run(button, () => resetCounter(key)));
    li.append(name, figures, button);
    return li;
  }

  function renderBlocks(data) {
    const list = $("blocked-keys");
    reconcile(list, data.blocked, "key", (b) => b.key, keyItem, (li, b) => {
      setText(
        li.querySelector(".figures"),
        `${b.current_count}/${b.limit} · retry in ${b.retry_after_seconds} s`,
      );
    });
    $("blocked-empty").hidden = data.blocked.length > 0;
  }

  function renderCounters(data) {
    // One page of counters, busiest first (the API lists them in store order).
    const counters = [...data.counters].sort((a, b) =>
      b.count / b.limit - a.count / a.limit || b.count - a.count
    );
    reconcile($("counters"), counters, "key", (c) => c.key, keyItem, (li, c) => {
      setText(
        li.querySelector(".figures"),
        `${c.count}/${c.limit}${c.blocked ? " · blocked" : ""}${c.override ? " · override" : ""}`,
      );
    });
    $("counters-empty").hidden = counters.length > 0;
  }

  // ---- overrides ----

  function renderLimits(data) {
    setText(
      $("defaults"),
      `Default: ${data.default_limit} per ${data.default_window_ms} ms (${data.default_algorithm}).`,
    );
    $("override-window").placeholder = String(data.default_window_ms);
    const tbody = $("overrides-table").tBodies[0];
    reconcile(tbody, data.overrides, "key", (o) => o.key, (key) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.className = "name";
      th.textContent = key;
      tr.append(th);
      cell(tr, "limit", "num");
      cell(tr, "window", "num");
      cell(tr, "algorithm");
      cell(tr, "updated");
      const actions = cell(tr, "actions", "actions");
      const edit = document.createElement("button");
      edit.type = "button";
      edit.className = "edit";
      edit.textContent = "Edit";
      edit.setAttribute("aria-label", `Edit the override of ${key}`);
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.textContent = "Delete";
      del.setAttribute("aria-label", `Delete the override of ${key}`);
      edit.addEventListener("click", () => {
        const o = JSON.parse(tr.dataset.override);
        $("override-key").value = o.key;
        $("override-limit").value = String(o.limit);
        $("override-window").value = String(o.window_ms);
        $("override-limit").focus();
      });
      del.addEventListener("click", () => run(del, () => deleteOverride(key)));
      actions.append(edit, del);
      return tr;
    }, (tr, o) => {
      tr.dataset.override = JSON.stringify(o);
      setText(cell(tr, "limit", "num"), String(o.limit));
      setText(cell(tr, "window", "num"), String(o.window_ms));
      setText(cell(tr, "algorithm"), o.algorithm ?? "default");
      const updated = cell(tr, "updated");
      setText(updated, age(o.updated_at, Date.now()));
      updated.title = o.updated_at;
    });
    $("overrides-empty").hidden = data.overrides.length > 0;
  }

  // ---- actions ----

  const enc = encodeURIComponent;

  async function resetCounter(key) {
    await api("POST", `/api/counters/${enc(key)}/reset`);
  }

  async function deleteOverride(key) {
    await api("DELETE", `/api/limits/${enc(key)}`);
  }

  async function saveOverride() {
    const key = $("override-key").value;
    const body = { limit: Number($("override-limit").value) };
    const windowMs = $("override-window").value;
    if (windowMs !== "") body.window_ms = Number(windowMs);
    await api("PUT", `/api/limits/${enc(key)}`, body);
  }

  /** Runs an action from `button`: on a 401 asks for the token and retries once it is given. */
  async function run(button, action) {
    button.disabled = true;
    try {
      await action();
      actionError = "";
      pendingAction = null;
      setText($("status"), "");
      await refresh();
      return true;
    } catch (error) {
      actionError = error.message;
      setText($("status"), error.message);
      if (error.status === 401) {
        pendingAction = () => run(button, action);
        askForToken();
      }
      return false;
    } finally {
      button.disabled = false;
    }
  }

  // ---- polling ----

  let polling = null;

  async function pollOnce() {
    const reads = [
      ["/api/cluster", renderCluster],
      ["/api/blocks?limit=20", renderBlocks],
      ["/api/counters?limit=20", renderCounters],
      ["/api/limits", renderLimits],
    ];
    const results = await Promise.allSettled(reads.map(([path]) => api("GET", path)));
    let lastError = "";
    results.forEach((result, i) => {
      if (result.status === "fulfilled") {
        try {
          reads[i][1](result.value);
        } catch (error) {
          lastError = `GET ${reads[i][0]}: unexpected answer (${error.message})`;
        }
      } else {
        lastError = result.reason.message;
        if (result.reason.status === 401) askForToken();
      }
    });
    if (results[0].status === "rejected") {
      // No sample this time: the charts show a gap.
      record({ allowed: null, blocked: null, p99: null });
    }
    drawCharts();
    setText($("status"), lastError || actionError);
    setText(
      $("updated"),
      `Updated ${new Date().toLocaleTimeString()}${lastError ? " (with errors)" : ""}`,
    );
  }

  /** One poll at a time: a poll asked for while one runs waits for it. */
  function poll() {
    polling ??= pollOnce().finally(() => {
      polling = null;
    });
    return polling;
  }

  /** A poll that starts after now, so it shows the effect of an action just taken. */
  async function refresh() {
    if (polling !== null) await polling;
    await poll();
  }

  async function loop() {
    await poll();
    setTimeout(loop, POLL_MS);
  }

  function start() {
    $("auth-form").addEventListener("submit", (event) => {
      event.preventDefault();
      adminToken = $("admin-token").value.trim();
      $("admin-token").value = "";
      $("auth-needed").hidden = true;
      actionError = "";
      const retry = pendingAction;
      pendingAction = null;
      if (retry !== null) retry();
      else refresh();
    });
    $("override-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (await run($("override-save"), saveOverride)) {
        $("override-form").reset();
      }
    });
    drawCharts();
    loop();
  }

  start();
})();
