/*
 * Resync strangler dashboard: sign in, watch the route table, change modes, pull the kill switch.
 *
 * Plain browser JavaScript against the proxy's admin API (no framework, no build step). Every
 * piece of server text reaches the page through textContent, never parsed as HTML, so a route, a
 * reason or a diff cannot inject markup. The access token lives in sessionStorage only: it dies
 * with the tab and is never written to a cookie or localStorage.
 */
"use strict";

(() => {
  const POLL_MS = 2000;
  const EVENTS_LIMIT = 25;
  const MISMATCHES_LIMIT = 10;
  const TOKEN_KEY = "strangler.token";
  const REFRESH_KEY = "strangler.refresh";
  const USER_KEY = "strangler.user";

  // The page lives at <prefix>/_strangler/; the admin API is beside it. Where to sign in and the
  // modes come from the proxy (dashboard.json): the composition module knows the apps' sign-in
  // endpoints, and the modes are the proxy's Mode enum, never copied here.
  const ADMIN_BASE = new URL("./", window.location.href);
  const PROXY_ROOT = new URL("../", ADMIN_BASE);
  let MODES = [];
  let MODE_HINTS = {};
  let SIGN_IN = null; // {login, logout, refresh} as URLs, or null: this proxy offers no sign-in

  async function loadConfig() {
    const response = await fetch(new URL("dashboard.json", ADMIN_BASE), {
      headers: { Accept: "application/json" },
      credentials: "omit",
      cache: "no-store",
    });
    if (!response.ok) throw new Error(`dashboard.json: HTTP ${response.status}`);
    const config = await response.json();
    MODES = config.modes.map((item) => item.mode);
    MODE_HINTS = Object.fromEntries(config.modes.map((item) => [item.mode, item.hint]));
    const onProxy = (path) => new URL(path.replace(/^\/+/, ""), PROXY_ROOT);
    const s = config.sign_in;
    SIGN_IN = s && { login: onProxy(s.login), logout: onProxy(s.logout), refresh: onProxy(s.refresh) };
    $("filter-mode").append(...MODES.map((mode) => el("option", { value: mode }, mode)));
    return config;
  }

  const $ = (id) => document.getElementById(id);

  const state = {
    routes: [],
    version: null,
    stats: {},
    statsWindow: null,
    editing: null, // the route object a dialog was opened for
    opener: null, // the button that opened the mode dialog, focused again when it closes
    pending: null, // the change waiting for confirmation
    timer: null,
    inFlight: null, // the promise of the refresh under way
    rows: new Map(), // route key -> <tr>, kept across refreshes so focus survives
    mismatchItems: new Map(), // mismatch id -> <li>, so an open <details> stays open
    renewing: null, // the one refresh in flight, shared by every request that got a 401
  };

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
    }
  }

  // ---------------------------------------------------------------- DOM building

  /** Create an element; strings among children become text nodes (never parsed as HTML). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setText(node, text) {
    const value = text === null || text === undefined ? "" : String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  function modeBadge(mode, percent) {
    // Events carry the percent of the new state only: a "from" badge passes null and shows the mode.
    const label = mode === "canary" && percent !== null ? `canary ${percent}%` : mode;
    return el("span", { class: `badge badge-${MODES.includes(mode) ? mode : "unknown"}` }, label);
  }

  function formatTime(iso) {
    if (!iso) return "–";
    return String(iso).replace("T", " ").replace(/Z$/, " UTC");
  }

  function formatNumber(value, digits) {
    if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
    return Number(value).toFixed(digits);
  }

  function formatRate(value) {
    if (value === null || value === undefined) return "–";
    const pct = Number(value) * 100;
    return `${pct.toFixed(pct > 0 && pct < 1 ? 2 : 1)}%`;
  }

  // ---------------------------------------------------------------- API

  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  async function readProblem(response) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  function storeTokens(body) {
    window.sessionStorage.setItem(TOKEN_KEY, body.access_token);
    if (body.refresh_token) window.sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
  }

  /**
   * Trade the refresh token for a new pair once the access token (30 minutes) has expired, so a
   * long rollout is not interrupted. Concurrent 401s share one refresh: the old refresh token
   * is revoked by its first use. Resolves true when a new access token is stored.
   */
  function renew() {
    const refreshToken = window.sessionStorage.getItem(REFRESH_KEY);
    if (!refreshToken || !SIGN_IN) return Promise.resolve(false);
    if (!state.renewing) {
      state.renewing = fetch(SIGN_IN.refresh, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh_token: refreshToken }),
        credentials: "omit",
        cache: "no-store",
      })
        .then(async (response) => {
          if (!response.ok) {
            window.sessionStorage.removeItem(REFRESH_KEY);
            return false;
          }
          storeTokens(await response.json());
          return true;
        })
        .catch(() => false)
        .finally(() => {
          state.renewing = null;
        });
    }
    return state.renewing;
  }

  async function api(path, options = {}, retried = false) {
    const sent = token();
    const headers = { Accept: "application/json" };
    if (sent) headers.Authorization = `Bearer ${sent}`;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(new URL(path, ADMIN_BASE), {
      method: options.method || "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      cache: "no-store",
      credentials: "omit",
    });
    if (response.status === 401 && sent && !retried) {
      // Another request may have renewed the token meanwhile; otherwise renew it now.
      if (token() !== sent || (await renew())) return api(path, options, true);
    }
    if (!response.ok) throw new ApiError(response.status, await readProblem(response));
    return response.status === 204 ? null : response.json();
  }

  /** Turn a problem's field errors into one line a person can act on. */
  function describe(error) {
    if (!(error instanceof ApiError)) return "The proxy could not be reached.";
    const problem = error.problem || {};
    const fields = Array.isArray(problem.errors)
      ? problem.errors.map((item) => `${item.field}: ${item.message}`).join("; ")
      : "";
    return [error.message, fields].filter(Boolean).join(" ");
  }

  // ---------------------------------------------------------------- views and session

  function show(view) {
    for (const id of ["signin-view", "forbidden-view", "app-view"]) $(id).hidden = id !== view;
    const signedIn = view === "app-view";
    $("session").hidden = !signedIn;
    const user = window.sessionStorage.getItem(USER_KEY) || "";
    setText($("session-user"), user);
    $("session-user").parentElement.hidden = !user;
  }

  function announce(message, kind = "ok") {
    const node = $("status");
    node.dataset.kind = kind;
    // Clear first so the same message twice in a row is still announced.
    node.textContent = "";
    window.setTimeout(() => setText(node, message), 30);
  }

  function forgetSession() {
    window.sessionStorage.removeItem(TOKEN_KEY);
    window.sessionStorage.removeItem(REFRESH_KEY);
    window.sessionStorage.removeItem(USER_KEY);
    stopPolling();
    state.routes = [];
    state.version = null;
    state.rows.clear();
    state.mismatchItems.clear();
    $("routes-body").replaceChildren();
    $("events").replaceChildren();
    $("mismatches").replaceChildren();
    setText($("status"), "");
  }

  function toSignIn(message) {
    forgetSession();
    show("signin-view");
    setText($("signin-error"), message || "");
    $("signin-password").value = "";
    $("signin-username").focus();
  }

  async function signOut() {
    if (token()) revoke(token());
    toSignIn("");
  }

  function revoke(current) {
    // Revoke the token server-side; signing out locally must not wait on or fail with it.
    if (!SIGN_IN) return;
    fetch(SIGN_IN.logout, {
      method: "POST",
      headers: { Authorization: `Bearer ${current}` },
      credentials: "omit",
    }).catch(() => {});
  }

  function refuse() {
    // A signed-in non-admin sees the refusal and nothing else: drop the data and the token.
    const user = window.sessionStorage.getItem(USER_KEY) || "This account";
    if (token()) revoke(token());
    forgetSession();
    setText(
      $("forbidden-message"),
      `${user} is not an administrator, and the proxy's admin API answers only to the admin ` +
        "role. You have been signed out: sign in with an admin account, or ask an administrator.",
    );
    show("forbidden-view");
    $("forbidden-sign-out").focus();
  }

  /** React to an admin API failure; return true when the session is over. */
  function handleAuthFailure(error) {
    if (!(error instanceof ApiError)) return false;
    if (error.status === 401) {
      toSignIn("Your session has expired. Sign in again.");
      return true;
    }
    if (error.status === 403) {
      refuse();
      return true;
    }
    return false;
  }

  async function signIn(event) {
    event.preventDefault();
    const form = $("signin-form");
    if (!form.reportValidity()) return;
    const username = $("signin-username").value.trim();
    const password = $("signin-password").value;
    const submit = $("signin-submit");
    submit.disabled = true;
    setText($("signin-error"), "");
    try {
      await CONFIG;
      if (!SIGN_IN) {
        setText($("signin-error"), "This proxy offers no sign-in: its composition names none.");
        return;
      }
      const response = await fetch(SIGN_IN.login, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ username, password }),
        credentials: "omit",
        cache: "no-store",
      });
      if (!response.ok) {
        const problem = await readProblem(response);
        const detail = (problem && problem.detail) || `Sign-in failed (HTTP ${response.status}).`;
        setText($("signin-error"), detail);
        $("signin-password").focus();
        return;
      }
      storeTokens(await response.json());
      window.sessionStorage.setItem(USER_KEY, username);
      $("signin-password").value = "";
      await enter();
    } catch {
      setText($("signin-error"), "The proxy could not be reached.");
    } finally {
      submit.disabled = false;
    }
  }

  /** Load the dashboard with the stored token; the admin API decides who may see it. */
  async function enter() {
    try {
      await CONFIG;
      await refresh({ throwAuth: true });
    } catch (error) {
      if (handleAuthFailure(error)) return;
      toSignIn(describe(error));
      return;
    }
    show("app-view");
    $("main").focus();
    startPolling();
  }

  // ---------------------------------------------------------------- polling

  function startPolling() {
    stopPolling();
    if (document.visibilityState === "hidden") {
      setLive(false);
      return;
    }
    setLive(true);
    state.timer = window.setTimeout(tick, POLL_MS);
  }

  function stopPolling() {
    if (state.timer !== null) window.clearTimeout(state.timer);
    state.timer = null;
  }

  function setLive(live) {
    setText($("live-state"), live ? "Live" : "Paused while the tab is hidden");
    $("live-dot").classList.toggle("paused", !live);
  }

  async function tick() {
    state.timer = null;
    if (!token() || document.visibilityState === "hidden") return;
    try {
      await refresh({ throwAuth: true });
    } catch (error) {
      if (handleAuthFailure(error)) return;
    }
    if (token() && document.visibilityState !== "hidden") {
      state.timer = window.setTimeout(tick, POLL_MS);
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (!token() || $("app-view").hidden) return;
    if (document.visibilityState === "hidden") {
      stopPolling();
      setLive(false);
    } else {
      setLive(true);
      stopPolling();
      tick();
    }
  });

  /**
   * Fetch everything the page shows and render it. The route table is required (its 401/403
   * decide the session); the other panels degrade to a message when their endpoint fails.
   */
  async function refresh(options = {}) {
    // One refresh at a time; a caller arriving meanwhile (say, right after a change) waits for
    // it and then fetches again, so what it sees is never older than its own action.
    while (state.inFlight) await state.inFlight.catch(() => {});
    state.inFlight = load(options);
    try {
      await state.inFlight;
    } finally {
      state.inFlight = null;
    }
  }

  async function load({ throwAuth = false } = {}) {
    const settled = await Promise.allSettled([
      api("routes"),
      api("stats"),
      api("progress"),
      api(`events?limit=${EVENTS_LIMIT}&offset=0`),
      api(`mismatches?limit=${MISMATCHES_LIMIT}&offset=0`),
      api("health"),
      api("plans"),
      api("plans/history?limit=20"),
    ]);
    const [routes, stats, progress, events, mismatches, health, plans, planHistory] = settled;
    if (routes.status === "rejected") {
      const error = routes.reason;
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        if (throwAuth) throw error;
        return;
      }
      showConnectionError(describe(error));
      return;
    }
    $("connection-error").hidden = true;
    state.routes = routes.value.routes || [];
    state.version = routes.value.version;
    if (stats.status === "fulfilled") {
      state.stats = stats.value.routes || {};
      state.statsWindow = stats.value.window_seconds;
    }
    renderRoutes();
    renderProgress(progress);
    renderEvents(events);
    renderMismatches(mismatches);
    renderHealth(health);
    renderPlans(plans, planHistory);
    setText($("last-updated"), new Date().toLocaleTimeString());
  }

  function showConnectionError(message) {
    const node = $("connection-error");
    setText(node, `Could not refresh: ${message} Showing the last data; retrying.`);
    node.hidden = false;
  }

  // ---------------------------------------------------------------- route table

  function visibleRoutes() {
    const mode = $("filter-mode").value;
    const text = $("filter-path").value.trim().toLowerCase();
    return state.routes.filter((route) => {
      if (mode && route.mode !== mode) return false;
      if (text && !`${route.route} ${route.path}`.toLowerCase().includes(text)) return false;
      return true;
    });
  }

  function sideStats(key, side) {
    const byRoute = state.stats[key] || {};
    return byRoute[side] || null;
  }

  function buildRow(route) {
    const cells = {};
    const row = el("tr", { "data-route": route.route });
    const head = el(
      "th",
      { scope: "row", class: "route-cell" },
      el("span", { class: `method method-${route.method.toLowerCase()}` }, route.method),
      " ",
      el("code", { class: "path" }, route.path),
    );
    row.append(head);
    for (const name of [
      "sides",
      "mode",
      "rpsLegacy",
      "rpsNew",
      "p95Legacy",
      "p95New",
      "errLegacy",
      "errNew",
      "match",
      "mismatch",
    ]) {
      cells[name] = el("td", { class: `col-${name}` });
      row.append(cells[name]);
    }
    const action = el("td", { class: "col-action" });
    row.append(action);
    const changeable = route.sides.includes("legacy") && route.sides.includes("new");
    if (changeable) {
      const button = el(
        "button",
        { type: "button", class: "button button-small", "data-action": "change" },
        "Change",
        el("span", { class: "visually-hidden" }, ` mode of ${route.route}`),
      );
      button.addEventListener("click", () => openModeDialog(row.dataset.route, button));
      action.append(button);
    } else {
      action.append(el("span", { class: "muted small" }, `${route.sides[0] || "no"} side only`));
    }
    row._cells = cells;
    row._sidesKey = route.sides.join(",");
    return row;
  }

  function updateRow(row, route) {
    const c = row._cells;
    setText(c.sides, route.sides.join(" + ") + (route.websocket ? " (WebSocket)" : ""));
    const modeKey = `${route.mode}|${route.percent}|${route.dry_run}`;
    if (c.mode.dataset.key !== modeKey) {
      c.mode.dataset.key = modeKey;
      c.mode.replaceChildren(modeBadge(route.mode, route.percent));
      if (route.dry_run) c.mode.append(" ", el("span", { class: "tag" }, "dry run"));
    }
    const legacy = sideStats(route.route, "legacy");
    const fresh = sideStats(route.route, "new");
    setText(c.rpsLegacy, legacy ? formatNumber(legacy.rps, 2) : "–");
    setText(c.rpsNew, fresh ? formatNumber(fresh.rps, 2) : "–");
    setText(c.p95Legacy, legacy ? formatNumber(legacy.p95_ms, 1) : "–");
    setText(c.p95New, fresh ? formatNumber(fresh.p95_ms, 1) : "–");
    setText(c.errLegacy, legacy ? formatRate(legacy.error_rate) : "–");
    setText(c.errNew, fresh ? formatRate(fresh.error_rate) : "–");
    c.errLegacy.classList.toggle("bad", Boolean(legacy && legacy.error_rate > 0));
    c.errNew.classList.toggle("bad", Boolean(fresh && fresh.error_rate > 0));
    const shadow = (state.stats[route.route] || {}).shadow;
    setText(c.match, shadow ? shadow.match : "–");
    setText(c.mismatch, shadow ? shadow.mismatch : "–");
    c.mismatch.classList.toggle("bad", Boolean(shadow && shadow.mismatch > 0));
    row.title = route.updated_at
      ? `Last changed ${formatTime(route.updated_at)} by ${route.updated_by || "?"}`
      : "";
  }

  function renderRoutes() {
    const body = $("routes-body");
    const shown = visibleRoutes();
    const keep = new Set();
    let previous = null;
    for (const route of shown) {
      let row = state.rows.get(route.route);
      if (!row || row._sidesKey !== route.sides.join(",")) {
        row = buildRow(route);
        state.rows.set(route.route, row);
      }
      updateRow(row, route);
      keep.add(route.route);
      // Move rows only when out of place, so a focused button is not detached and refocused.
      const expected = previous ? previous.nextSibling : body.firstChild;
      if (expected !== row) body.insertBefore(row, expected);
      previous = row;
    }
    for (const [key, row] of state.rows) {
      if (!keep.has(key)) {
        row.remove();
        if (!state.routes.some((route) => route.route === key)) state.rows.delete(key);
      }
    }
    if (shown.length === 0) {
      if (!body.querySelector(".empty-row")) {
        body.append(
          el("tr", { class: "empty-row" }, el("td", { colspan: 12 }, "No route matches the filters.")),
        );
      }
    } else {
      body.querySelector(".empty-row")?.remove();
    }
    setText(
      $("routes-count"),
      `Showing ${shown.length} of ${state.routes.length} routes · flag version ${state.version}`,
    );
    setText($("flag-version"), state.version);
    setText(
      $("stats-window"),
      state.statsWindow ? `Traffic over the last ${state.statsWindow} s, this worker.` : "",
    );
  }

  // ---------------------------------------------------------------- progress, events, mismatches

  function renderProgress(result) {
    const bar = $("mode-bar");
    const legend = $("mode-legend");
    if (result.status !== "fulfilled") {
      setText($("progress-total"), "–");
      legend.replaceChildren(el("li", { class: "muted" }, "Progress is not available."));
      return;
    }
    const progress = result.value;
    const total = Number(progress.total) || 0;
    setText($("progress-total"), total);
    const byMode = progress.by_mode || {};
    const segments = [];
    const items = [];
    const described = [];
    for (const mode of MODES) {
      const count = Number(byMode[mode]) || 0;
      described.push(`${mode} ${count}`);
      items.push(
        el("li", {}, el("span", { class: `swatch swatch-${mode}`, "aria-hidden": "true" }), `${mode} `,
          el("strong", {}, String(count))),
      );
      if (count > 0 && total > 0) {
        const segment = el("span", { class: `segment segment-${mode}` });
        segment.style.width = `${(100 * count) / total}%`; // CSSOM, allowed by the CSP
        segments.push(segment);
      }
    }
    bar.replaceChildren(...segments);
    bar.setAttribute("aria-label", `Routes by mode: ${described.join(", ")}`);
    legend.replaceChildren(...items);

    const parity = progress.parity || {};
    const covered = Number(parity.covered) || 0;
    setText($("parity-covered-text"), `${covered} of ${total}`);
    $("parity-covered").max = Math.max(total, 1);
    $("parity-covered").value = covered;
    const passing = parity.passing;
    const notRun = passing === null || passing === undefined;
    $("parity-passing").hidden = notRun || covered === 0;
    setText(
      $("parity-passing-note"),
      notRun ? "Shadowing is off on this proxy." : covered === 0 ? "No shadow traffic yet." : "",
    );
    if (notRun || covered === 0) {
      setText($("parity-passing-text"), "–");
    } else {
      setText($("parity-passing-text"), `${passing} of ${covered}`);
      $("parity-passing").max = Math.max(covered, 1);
      $("parity-passing").value = Number(passing);
    }
  }

  function renderEvents(result) {
    const list = $("events");
    if (result.status !== "fulfilled") {
      setText($("events-count"), "The flag history is not available.");
      return;
    }
    const { items = [], total = 0 } = result.value;
    setText(
      $("events-count"),
      total ? `Newest first · showing ${Math.min(items.length, total)} of ${total}` : "No flag changes yet.",
    );
    const key = items.map((item) => item.id).join(",");
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    list.replaceChildren(
      ...items.map((item) =>
        el(
          "li",
          { class: "event", "data-event-id": item.id },
          el(
            "div",
            { class: "event-head" },
            el("code", { class: "event-route" }, item.route),
            el(
              "span",
              { class: "event-change" },
              item.from ? modeBadge(item.from, null) : el("span", { class: "badge badge-unknown" }, "unset"),
              " → ",
              modeBadge(item.to, item.percent),
            ),
          ),
          el("p", { class: "event-reason" }, item.reason),
          el(
            "p",
            { class: "event-meta muted small" },
            el("time", { datetime: item.at }, formatTime(item.at)),
            ` · ${item.actor} · version ${item.version}`,
          ),
        ),
      ),
    );
  }

  // ---------------------------------------------------------------- rollout plans

  const PLAN_ACTIONS = {
    running: ["pause", "promote", "abort"],
    paused: ["resume", "promote", "abort"],
    done: ["abort"],
    aborted: [],
  };

  function gateRows(verdict) {
    const gates = (verdict && verdict.gates) || {};
    return Object.entries(gates).map(([name, gate]) => {
      const value =
        gate.value !== undefined ? gate.value : `p=${gate.p_greater}, P(slower)=${gate.probability_slower}`;
      const limit = gate.limit !== undefined ? gate.limit : "";
      return el(
        "tr",
        { class: gate.ok ? "gate-ok" : "gate-failed", "data-gate": name },
        el("th", { scope: "row" }, name),
        el("td", {}, String(value)),
        el("td", {}, String(limit)),
        el("td", {}, gate.ok ? "ok" : "failed"),
      );
    });
  }

  function buildPlan(item) {
    const steps = (item.steps || []).map((step, index) =>
      el(
        "li",
        {
          class: index === item.step ? "plan-step plan-step-current" : "plan-step",
          "aria-current": index === item.step ? "step" : null,
        },
        step.label,
      ),
    );
    const verdict = item.verdict || {};
    const measured = verdict.window || {};
    const figures = [];
    for (const side of ["legacy", "new"]) {
      const s = measured[side];
      if (s && s.requests) {
        figures.push(`${side}: ${s.requests} req, ${formatRate(s.error_rate)} errors, p95 ${s.p95_ms} ms`);
      }
    }
    const sh = measured.shadow;
    if (sh && (sh.match || sh.mismatch || sh.dropped)) {
      figures.push(`shadow: ${sh.match} match, ${sh.mismatch} mismatch, ${sh.dropped} dropped`);
    }
    const buttons = (PLAN_ACTIONS[item.status] || []).map((action) =>
      el("button", { type: "button", class: "button plan-action", "data-action": action, "data-route": item.route }, action),
    );
    const rows = gateRows(verdict);
    return el(
      "article",
      { class: "plan", "data-route": item.route, "data-status": item.status },
      el(
        "div",
        { class: "plan-head" },
        el("code", { class: "plan-route" }, item.route),
        el("span", { class: `badge plan-status plan-status-${item.status}` }, item.status),
        el("span", { class: "plan-current" }, `step ${item.step + 1} of ${(item.steps || []).length}: ${item.current}`),
      ),
      el("ol", { class: "plan-steps" }, ...steps),
      el("p", { class: "plan-reason" }, item.reason || ""),
      figures.length ? el("p", { class: "plan-figures muted small" }, figures.join(" · ")) : "",
      rows.length
        ? el(
            "table",
            { class: "plan-gates" },
            el("caption", { class: "muted small" }, `Gates (${verdict.outcome || "last judged"})`),
            el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "gate"), el("th", { scope: "col" }, "value"),
              el("th", { scope: "col" }, "limit"), el("th", { scope: "col" }, "result"))),
            el("tbody", {}, ...rows),
          )
        : "",
      buttons.length ? el("div", { class: "plan-buttons" }, ...buttons) : "",
    );
  }

  function renderPlans(result, history) {
    const node = $("plans");
    if (result.status !== "fulfilled") {
      setText($("plans-lease"), "The rollout plans are not available.");
      return;
    }
    const { items = [], lease, autopilot } = result.value;
    setText(
      $("plans-lease"),
      !autopilot
        ? "The autopilot is off (STRANGLER_AUTOPILOT=false): plans are kept but not carried out."
        : lease
          ? `Driven by ${lease.holder} (lease term ${lease.term}).`
          : "No worker holds the autopilot lease right now.",
    );
    const key = JSON.stringify(items);
    if (node.dataset.key !== key) {
      node.dataset.key = key;
      node.replaceChildren(
        ...(items.length ? items.map(buildPlan) : [el("p", { class: "muted" }, "No rollout plans.")]),
      );
    }
    if (history.status !== "fulfilled") return;
    const entries = history.value.items || [];
    const list = $("plan-history");
    const historyKey = entries.map((item) => item.id).join(",");
    if (list.dataset.key === historyKey) return;
    list.dataset.key = historyKey;
    list.replaceChildren(
      ...entries.map((item) =>
        el(
          "li",
          { class: `event plan-event plan-event-${item.kind}`, "data-kind": item.kind },
          el("div", { class: "event-head" }, el("code", { class: "event-route" }, item.route),
            el("span", { class: "event-change" }, item.label ? `${item.kind} · ${item.label}` : item.kind)),
          el("p", { class: "event-reason" }, item.reason || ""),
          el("p", { class: "event-meta muted small" },
            el("time", { datetime: new Date(item.at * 1000).toISOString() }, new Date(item.at * 1000).toLocaleString()),
            ` · ${item.actor}`),
        ),
      ),
    );
  }

  async function planAction(event) {
    const button = event.target.closest("button.plan-action");
    if (!button) return;
    const reasonInput = $("plan-reason");
    const reason = reasonInput.value.trim();
    if (!reason) {
      announce("Give a reason for the plan action first.", "error");
      reasonInput.focus();
      return;
    }
    const { action, route } = button.dataset;
    try {
      const result = await api(`plans/${action}`, { method: "POST", body: { route, reason } });
      announce(`${route}: plan ${result.status} at ${result.current}.`);
      reasonInput.value = "";
      await refresh();
    } catch (error) {
      if (handleAuthFailure(error)) return;
      announce(`Plan ${action} refused: ${describe(error)}`, "error");
    }
  }

  function describeRequest(request) {
    if (!request) return "";
    const query = request.query ? `?${request.query}` : "";
    return `${request.method || ""} ${request.path || ""}${query}`;
  }

  function buildMismatch(item) {
    const statusOf = (side) => (side && side.status !== undefined ? side.status : "no answer");
    const kind = item.result === "error" ? "error" : "mismatch";
    const candidate = item.candidate_side || (item.primary_side === "new" ? "legacy" : "new");
    return el(
      "li",
      { class: "mismatch", "data-mismatch-id": item.id },
      el(
        "details",
        {},
        el(
          "summary",
          {},
          el("span", { class: `tag tag-${kind}` }, kind),
          " ",
          el("code", { class: "event-route" }, item.route),
          el("span", { class: "mismatch-meta muted small" }, `${formatTime(item.at)} · ${item.primary_side} ${statusOf(item.primary)}, ${candidate} ${statusOf(item.candidate)}`),
        ),
        el("p", { class: "small" }, "Request: ", el("code", {}, describeRequest(item.request))),
        item.error ? el("p", { class: "small bad" }, item.error) : null,
        el(
          "pre",
          { class: "diff", tabindex: "0", "aria-label": `Differences for ${item.route}` },
          item.diff || "(no diff text)",
        ),
      ),
    );
  }

  function renderMismatches(result) {
    const list = $("mismatches");
    if (result.status !== "fulfilled") {
      setText($("mismatches-count"), "Mismatches are not available.");
      return;
    }
    const body = result.value;
    const items = Array.isArray(body) ? body : body.items || [];
    const total = Array.isArray(body) ? items.length : Number(body.total) || items.length;
    setText(
      $("mismatches-count"),
      items.length
        ? `Newest first · showing ${items.length} of ${total} kept · open one to read its diff`
        : "No mismatches recorded.",
    );
    const keep = new Set(items.map((item) => String(item.id)));
    for (const [id, node] of state.mismatchItems) {
      if (!keep.has(id)) {
        node.remove();
        state.mismatchItems.delete(id);
      }
    }
    let previous = null;
    for (const item of items) {
      const id = String(item.id);
      let node = state.mismatchItems.get(id);
      if (!node) {
        node = buildMismatch(item);
        state.mismatchItems.set(id, node);
      }
      const expected = previous ? previous.nextSibling : list.firstChild;
      if (expected !== node) list.insertBefore(node, expected);
      previous = node;
    }
  }

  function renderHealth(result) {
    if (result.status !== "fulfilled") {
      setText($("store-state"), "unknown");
      return;
    }
    const store = result.value.store || "unknown";
    setText($("store-state"), store);
    $("store-state").classList.toggle("bad", store !== "ok");
  }

  // ---------------------------------------------------------------- change one route

  function findRoute(key) {
    return state.routes.find((route) => route.route === key) || null;
  }

  function openModeDialog(key, opener) {
    const route = findRoute(key);
    if (!route) return;
    state.editing = { ...route, version: state.version };
    state.opener = opener;
    setText($("mode-route"), route.route);
    $("mode-current").replaceChildren(modeBadge(route.mode, route.percent));
    const select = $("mode-select");
    select.replaceChildren(...MODES.map((mode) => el("option", { value: mode }, mode)));
    select.value = route.mode;
    $("mode-percent").value = String(route.percent || 0);
    $("mode-dry-run").checked = Boolean(route.dry_run);
    $("mode-reason").value = "";
    setText($("mode-error"), "");
    showModeStep("edit");
    syncModeFields();
    $("mode-dialog").showModal();
    select.focus();
  }

  function syncModeFields() {
    const mode = $("mode-select").value;
    const canary = mode === "canary";
    $("percent-field").hidden = !canary;
    $("mode-percent").disabled = !canary;
    // Dry run only matters where the candidate would write: shadowed unsafe methods.
    const unsafe = state.editing && !["GET", "HEAD"].includes(state.editing.method);
    const dryRun = (mode === "shadow" || mode === "shadow-new") && unsafe;
    $("dry-run-field").hidden = !dryRun;
    $("mode-dry-run").disabled = !dryRun;
    setText($("mode-hint"), MODE_HINTS[mode] || "");
  }

  function showModeStep(step) {
    const confirm = step === "confirm";
    $("mode-step-edit").hidden = confirm;
    $("mode-step-confirm").hidden = !confirm;
    $("mode-back").hidden = !confirm;
    setText($("mode-submit"), confirm ? "Apply change" : "Review change");
    $("mode-title").textContent = confirm ? "Confirm the change" : "Change route mode";
  }

  function closeModeDialog() {
    $("mode-dialog").close();
  }

  async function submitMode(event) {
    event.preventDefault();
    const route = state.editing;
    if (!route) return;
    const confirming = !$("mode-step-confirm").hidden;
    if (!confirming) {
      const reason = $("mode-reason");
      reason.setCustomValidity(reason.value.trim() ? "" : "Give a reason for the change.");
      const mode = $("mode-select").value;
      const same =
        mode === route.mode &&
        (mode !== "canary" || Number($("mode-percent").value) === route.percent) &&
        ($("mode-dry-run").disabled || $("mode-dry-run").checked === Boolean(route.dry_run));
      $("mode-select").setCustomValidity(same ? "This is the route's current setting." : "");
      if (!$("mode-form").reportValidity()) return;
      const change = { route: route.route, mode, reason: reason.value.trim() };
      if (mode === "canary") change.percent = Number($("mode-percent").value);
      if (!$("mode-dry-run").disabled) change.dry_run = $("mode-dry-run").checked;
      if (route.version !== null && route.version !== undefined) {
        change.expected_version = route.version;
      }
      state.pending = change;
      const target = mode === "canary" ? `canary, ${change.percent}% to new` : mode;
      const from = route.mode === "canary" ? `canary ${route.percent}%` : route.mode;
      setText($("mode-summary"), `Set ${route.route} from ${from} to ${target}?`);
      setText($("mode-summary-reason"), change.reason);
      setText($("mode-error"), "");
      showModeStep("confirm");
      $("mode-submit").focus();
      return;
    }
    const change = state.pending;
    const submit = $("mode-submit");
    submit.disabled = true;
    try {
      const result = await api("routes", { method: "POST", body: change });
      closeModeDialog();
      const shown = result.mode === "canary" ? `canary ${result.percent}%` : result.mode;
      announce(`${result.route} is now ${shown} (flag version ${result.version}).`);
      await refresh();
    } catch (error) {
      if (handleAuthFailure(error)) {
        closeModeDialog();
        return;
      }
      if (error instanceof ApiError && error.status === 409) {
        await refresh();
        const fresh = findRoute(change.route);
        if (fresh) {
          state.editing = { ...fresh, version: state.version };
          $("mode-current").replaceChildren(modeBadge(fresh.mode, fresh.percent));
        }
        setText(
          $("mode-error"),
          "Someone else changed the flags meanwhile. The table is reloaded: check the route and go back to review again.",
        );
        showModeStep("edit");
        $("mode-select").focus();
        return;
      }
      setText($("mode-error"), describe(error));
    } finally {
      submit.disabled = false;
    }
  }

  // ---------------------------------------------------------------- kill switch

  function openKillDialog() {
    $("kill-reason").value = "";
    $("kill-confirm").value = "";
    $("kill-submit").disabled = true;
    setText($("kill-error"), "");
    $("kill-dialog").showModal();
    $("kill-reason").focus();
  }

  function syncKill() {
    const ready = $("kill-confirm").value.trim() === "KILL" && $("kill-reason").value.trim() !== "";
    $("kill-submit").disabled = !ready;
  }

  async function submitKill(event) {
    event.preventDefault();
    syncKill();
    if ($("kill-submit").disabled) {
      setText($("kill-error"), "Give a reason and type KILL to confirm.");
      return;
    }
    const reason = $("kill-reason").value.trim();
    $("kill-submit").disabled = true;
    try {
      const result = await api("kill-switch", { method: "POST", body: { reason } });
      $("kill-dialog").close();
      announce(
        `Kill switch pulled: ${result.changed} route(s) sent back to legacy (flag version ${result.version}).`,
        "warn",
      );
      await refresh();
    } catch (error) {
      if (handleAuthFailure(error)) {
        $("kill-dialog").close();
        return;
      }
      setText($("kill-error"), describe(error));
      $("kill-submit").disabled = false;
    }
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    $("signin-form").addEventListener("submit", signIn);
    $("plans").addEventListener("click", planAction);
    $("sign-out").addEventListener("click", signOut);
    $("forbidden-sign-out").addEventListener("click", signOut);
    $("filters").addEventListener("submit", (event) => event.preventDefault());
    $("filter-mode").addEventListener("change", renderRoutes);
    $("filter-path").addEventListener("input", renderRoutes);

    $("mode-form").addEventListener("submit", submitMode);
    $("mode-select").addEventListener("change", () => {
      $("mode-select").setCustomValidity("");
      syncModeFields();
    });
    for (const id of ["mode-percent", "mode-dry-run"]) {
      $(id).addEventListener("input", () => $("mode-select").setCustomValidity(""));
    }
    $("mode-reason").addEventListener("input", () => $("mode-reason").setCustomValidity(""));
    $("mode-cancel").addEventListener("click", closeModeDialog);
    $("mode-back").addEventListener("click", () => {
      showModeStep("edit");
      $("mode-select").focus();
    });
    $("mode-dialog").addEventListener("close", () => {
      state.editing = null;
      state.pending = null;
      // Return focus to the button that opened the dialog (still in the table: rows are kept).
      const opener = state.opener;
      state.opener = null;
      if (opener && opener.isConnected) opener.focus();
    });

    $("kill-open").addEventListener("click", openKillDialog);
    $("kill-form").addEventListener("submit", submitKill);
    $("kill-confirm").addEventListener("input", syncKill);
    $("kill-reason").addEventListener("input", syncKill);
    $("kill-cancel").addEventListener("click", () => $("kill-dialog").close());
    $("kill-dialog").addEventListener("close", () => $("kill-open").focus());

    CONFIG.catch(() => setText($("signin-error"), "The proxy's dashboard.json could not be read."));
    if (token()) {
      enter();
    } else {
      show("signin-view");
      $("signin-username").focus();
    }
  }

  const CONFIG = loadConfig(); // read once, before anything that signs in or renders modes
  wire();
})();
