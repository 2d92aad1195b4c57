// The console's only script: it polls the operator's JSON routes and renders them. Every value from
// the server goes in as text (textContent), never as markup: payload previews are untrusted input.
"use strict";

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else node.setAttribute(k, String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? "" : String(c)));
  return node;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

/** A JSON call to the api; a 401 means the session ended: the page reloads to its login form. */
async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401 && document.body.dataset.view === "app") {
    location.reload();
    throw new Error("the session ended");
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data && data.error;
    throw new Error(e ? `${e.code}: ${e.message}` : `HTTP ${res.status}`);
  }
  return data;
}

const ago = (ms) => (ms < 1000 ? `${ms} ms ago` : ms < 120_000 ? `${Math.round(ms / 1000)} s ago` : `${Math.round(ms / 60_000)} min ago`);
const when = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "—");
const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(2)} %`);
const num = (v) => el("td", { class: "num" }, v === null || v === undefined ? "—" : v);

// ---- login

function login() {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      await api("POST", "/admin/session", { token: $("token").value });
      location.reload();
    } catch (err) {
      $("login-error").textContent = err.message;
    }
  });
}

// ---- the app

/** A job's progress in percent: 100 once completed. */
function progressOf(job) {
  if (job.status === "completed") return 100;
  if (!job.total) return 0;
  return Math.min(99, Math.floor(((job.processed + (job.missing || 0)) * 100) / job.total));
}

function renderOverview(o) {
  $("updated").textContent = `updated ${when(o.at)}`;
  fill(
    $("processes").tBodies[0],
    o.processes.map((p) =>
      el(
        "tr",
        { class: p.status === "dead" ? "dead" : "", "data-role": p.role, "data-status": p.status },
        el("td", {}, p.role),
        el("td", {}, p.instance),
        el("td", {}, p.namespace || "—"),
        el("td", { class: `status-${p.status}` }, p.status),
        el("td", {}, p.role === "relay" ? (p.leader ? "leader" : "standby") : ""),
        num(p.lag ? p.lag.total : p.role === "consumer" ? null : ""),
        el("td", {}, ago(p.lastSeenAgoMs)),
        el("td", {}, p.version),
        el("td", {}, when(p.startedAt)),
      ),
    ),
  );
  fill(
    $("namespaces").tBodies[0],
    o.namespaces.map((n) =>
      el(
        "tr",
        { "data-namespace": n.namespace },
        el("td", {}, n.namespace),
        num(n.readers),
        num(pct(n.hitRatio)),
        num(n.fillsRefused),
        num(n.consumers),
        num(n.lag),
        num(n.commitToCacheP99Ms === null ? null : `${n.commitToCacheP99Ms} ms`),
        el("td", {}, when(n.lastAppliedAt)),
      ),
    ),
  );
  const r = o.relay;
  $("relay").textContent =
    r.error !== null
      ? `relay backlog unknown: ${r.error}`
      : `relay: leader ${r.leader || "none"}; backlog ${r.backlogRows} row(s)${r.backlogRows ? `, oldest ${r.oldestAgeSeconds.toFixed(1)} s` : ""}`;
}

function renderJobs(jobs) {
  fill(
    $("jobs").tBodies[0],
    jobs.map((j) =>
      el(
        "tr",
        { "data-job": j.jobId },
        el("td", {}, when(j.startedAt)),
        el("td", { title: j.jobId }, j.jobId.slice(0, 8)),
        el("td", {}, j.namespace),
        el("td", {}, j.scope),
        el("td", { class: j.status === "failed" || j.status === "abandoned" ? "status-dead" : "" }, j.status),
        num(`${progressOf(j)} % (${j.processed}/${j.total})`),
        num(j.cacheWritten),
        num(j.cacheRepaired + j.snapshotsRepaired),
        el("td", { title: (j.missingIds || []).join(", ") }, j.missing ? `${j.missing}: ${(j.missingIds || []).slice(0, 3).join(", ")}` : "0"),
        el("td", { title: (j.errorSamples || []).map((e) => `${e.productId}: ${e.message}`).join("\n") || (j.failure || "") }, j.errors || (j.failure ? "failed" : 0)),
      ),
    ),
  );
}

function renderDeadLetters(d) {
  const reasons = Object.entries(d.counts);
  const since = d.since ? ` since ${new Date(d.since).toLocaleString()}` : "";
  $("dead-letter-counts").textContent = d.total === 0 ? `No dead letters${since}.` : `${d.total} dead letter(s)${since}: ${reasons.map(([r, n]) => `${r} ${n}`).join(", ")}`;
  fill(
    $("dead-letters").tBodies[0],
    d.latest.map((x) =>
      el(
        "tr",
        {},
        el("td", {}, when(x.at)),
        el("td", {}, x.group),
        el("td", { title: x.detail }, x.reason),
        el("td", {}, x.source),
        el("td", {}, x.key || "—"),
        el("td", {}, el("pre", {}, x.preview + (x.bytes > x.preview.length ? " …" : ""))),
      ),
    ),
  );
}

async function refresh() {
  try {
    const [overview, jobs, dead] = await Promise.all([api("GET", "/admin/overview"), api("GET", "/admin/replay?limit=10"), api("GET", "/admin/dead-letters?limit=20")]);
    renderOverview(overview);
    renderJobs(jobs.jobs);
    renderDeadLetters(dead);
  } catch (err) {
    $("updated").textContent = `not updated: ${err.message}`;
  }
}

/** Follows a job until it ends, showing its bar; resolves with the job as it ended. */
async function follow(jobId, onProgress) {
  for (;;) {
    const job = await api("GET", `/admin/replay/${encodeURIComponent(jobId)}`);
    onProgress(job);
    if (job.status !== "running") return job;
    await new Promise((r) => setTimeout(r, 300));
  }
}

function showProgress(job) {
  $("replay-current").hidden = false;
  const p = progressOf(job);
  $("replay-progress").value = p;
  $("replay-percent").textContent = `${p} %`;
  $("replay-detail").textContent = `job ${job.jobId.slice(0, 8)} ${job.status}: ${job.processed} of ${job.total} product(s), ${job.ratePerSecond}/s${job.missing ? `, missing: ${(job.missingIds || []).join(", ")}` : ""}${job.failure ? `, ${job.failure}` : ""}`;
}

function replayForm() {
  $("replay-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("replay-error").textContent = "";
    const ids = $("replay-ids").value.split(/[\s,]+/).filter(Boolean);
    const body = { namespace: $("replay-namespace").value.trim() };
    if (ids.length > 0) body.productIds = ids;
    const button = ev.submitter || $("replay-form").querySelector("button");
    button.disabled = true;
    try {
      const started = await api("POST", "/admin/replay", body);
      await follow(started.jobId, showProgress);
      void refresh();
    } catch (err) {
      $("replay-error").textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
}

const ttl = (ms) => (ms === null ? "no expiry" : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);

function renderInspection(v) {
  $("inspection").hidden = false;
  const snap = v.snapshot ? `snapshot v${v.snapshot.version}${v.snapshot.deleted ? " (deleted)" : ""}` : "no snapshot";
  $("inspect-summary").textContent = `${v.id}: events up to v${v.version}${v.deleted ? " (deleted)" : ""}; ${snap}${v.snapshotBehind ? " — the snapshot disagrees with the events" : ""}. ${
    v.behind.length ? `Behind: ${v.behind.join(", ")}.` : "Every namespace is right."
  }`;
  fill(
    $("inspect-namespaces").tBodies[0],
    v.namespaces.map((n) =>
      el(
        "tr",
        { class: n.needsRepair ? "behind" : "", "data-namespace": n.namespace, "data-status": n.status },
        el("td", {}, n.namespace),
        el("td", { class: `status-${n.status}` }, n.status),
        num(n.version),
        el("td", {}, n.kind || "—"),
        el("td", {}, n.status === "absent" ? "—" : ttl(n.ttlMs)),
        el("td", {}, el("code", {}, n.key)),
      ),
    ),
  );
  fill(
    $("inspect-events").tBodies[0],
    v.events.map((e) => el("tr", {}, num(e.version), el("td", {}, e.type), el("td", {}, when(e.occurredAt)), el("td", {}, el("pre", {}, JSON.stringify(e.data))))),
  );
  $("repair").hidden = !(v.behind.length > 0 || v.snapshotBehind);
  $("repair").dataset.id = v.id;
  $("repair").dataset.namespaces = (v.behind.length ? v.behind : [$("replay-namespace").defaultValue]).join(",");
}

async function inspect(id) {
  $("inspect-error").textContent = "";
  try {
    const v = await api("GET", `/admin/products/${encodeURIComponent(id)}/cache`);
    renderInspection(v);
    return v;
  } catch (err) {
    $("inspection").hidden = true;
    $("inspect-error").textContent = err.message;
    return null;
  }
}

function inspector() {
  $("inspect-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    $("repair-result").textContent = "";
    void inspect($("inspect-id").value.trim());
  });
  $("repair").addEventListener("click", async () => {
    const id = $("repair").dataset.id;
    const namespaces = $("repair").dataset.namespaces.split(",");
    $("repair").disabled = true;
    $("repair-result").textContent = `repairing ${id} in ${namespaces.join(", ")}…`;
    try {
      const jobs = [];
      for (const namespace of namespaces) {
        const started = await api("POST", "/admin/replay", { productIds: [id], namespace });
        jobs.push(await follow(started.jobId, () => {}));
      }
      const v = await inspect(id);
      const failed = jobs.filter((j) => j.status !== "completed");
      $("repair-result").textContent = failed.length
        ? `repair failed: ${failed.map((j) => j.failure || j.status).join("; ")}`
        : `repaired: ${jobs.map((j) => `${j.namespace} (${j.cacheWritten + j.cacheRepaired} entry written, ${j.snapshotsRepaired} snapshot)`).join(", ")}; ${
            v && v.behind.length === 0 ? "every namespace is right now" : `still behind: ${v ? v.behind.join(", ") : "?"}`
          }`;
    } catch (err) {
      $("repair-result").textContent = `repair failed: ${err.message}`;
    } finally {
      $("repair").disabled = false;
    }
  });
}

function deadLetters() {
  $("redrive").addEventListener("click", async () => {
    $("redrive").disabled = true;
    $("redrive-result").textContent = "re-driving…";
    try {
      const r = await api("POST", "/admin/dead-letters/redrive");
      $("redrive-result").textContent = r.output || "done";
    } catch (err) {
      $("redrive-result").textContent = `re-drive failed: ${err.message}`;
    } finally {
      $("redrive").disabled = false;
    }
  });
}

async function poll() {
  await refresh();
  setTimeout(poll, 2000);
}

if (document.body.dataset.view === "login") {
  login();
} else {
  const logout = $("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      await api("POST", "/admin/session/logout").catch(() => {});
      location.reload();
    });
  }
  replayForm();
  inspector();
  deadLetters();
  void poll();
}
