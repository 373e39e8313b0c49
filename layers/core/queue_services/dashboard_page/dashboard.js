// The queue dashboard: reads GET /api/admin/queues every 2 s with the key kept in sessionStorage, and
// calls the dashboard's actions. Every value goes into the page as text (never as HTML).
"use strict";

const KEY_STORAGE = "queue-services-api-key";
const REFRESH_MS = 2000;
const API = "../api"; // the page is /<stage>/admin/queues; the API is /<stage>/api/...
const SVG = "http://www.w3.org/2000/svg";

let overview = null;
let timer = null;
let loading = false;

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  return node;
}

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

async function call(method, path, body) {
  const headers = { "x-api-key": apiKey() || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const message = (data && data.message) || response.statusText || "request failed";
    const error = new Error(`${response.status}: ${message}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function notice(text, kind) {
  const box = $("notice");
  box.textContent = text;
  box.className = "notice" + (kind ? " " + kind : "");
  box.hidden = !text;
}

const number = new Intl.NumberFormat("en");
function fmt(value) { return value === null || value === undefined ? "—" : number.format(value); }
function pct(value) { return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + " %"; }
function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return Math.round(seconds) + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
}
function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—"; }

function canWrite() { return overview && !overview.readOnly; }
function isAdmin() { return overview && overview.scope === "admin"; }

async function act(question, method, path, body, done) {
  if (!window.confirm(question)) return;
  try {
    const answer = await call(method, path, body);
    notice(done(answer), "ok");
  } catch (error) {
    notice(error.message, "error");
  }
  refresh();
}

function renderTotals(data) {
  const sum = { total: 0, success: 0, failed: 0, rateLimited: 0 };
  for (const ws of data.workspaces) {
    for (const channel of [ws.sms, ws.email]) {
      for (const key of Object.keys(sum)) sum[key] += channel[key];
    }
  }
  const waiting = data.queues.filter((q) => !q.deadLetter).reduce((n, q) => n + (q.visible || 0) + (q.delayed || 0), 0);
  const dead = data.queues.filter((q) => q.deadLetter).reduce((n, q) => n + (q.visible || 0) + (q.inFlight || 0), 0);
  const tiles = [
    ["sent", sum.success, false],
    ["failed", sum.failed, sum.failed > 0],
    ["rate-limited", sum.rateLimited, false],
    ["success rate", sum.total ? pct(sum.success / sum.total) : "—", false],
  ];
  if (isAdmin()) {
    tiles.push(["waiting in queues", waiting, false], ["dead letters", dead, dead > 0]);
  }
  $("totals").replaceChildren(...tiles.map(([label, value, bad]) =>
    el("div", { class: "tile" + (bad ? " bad" : ""), "data-tile": label },
      el("div", { class: "label" }, label), el("div", { class: "value" }, typeof value === "number" ? fmt(value) : value))));
}

function renderChart(channel) {
  const width = 600, height = 170, left = 36, bottom = 18, top = 8;
  const minutes = channel.minutes;
  const ratePerMinute = channel.ratePerSecond * 60;
  const peak = Math.max(ratePerMinute, ...minutes.map((m) => m.sent + m.failed + m.rateLimited), 1);
  const scale = (height - bottom - top) / peak;
  const slot = (width - left) / minutes.length;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${channel.channel} throughput` });
  chart.append(svg("line", { class: "axis", x1: left, x2: width, y1: height - bottom, y2: height - bottom }));
  minutes.forEach((minute, index) => {
    let y = height - bottom;
    for (const [key, cls] of [["sent", "bar-sent"], ["failed", "bar-failed"], ["rateLimited", "bar-limited"]]) {
      const h = minute[key] * scale;
      if (h <= 0) continue;
      y -= h;
      const bar = svg("rect", { class: cls, x: left + index * slot + 1, y, width: Math.max(slot - 2, 1), height: h });
      const title = svg("title", {});
      title.textContent = `${when(minute.minute)}: ${minute[key]} ${key}`;
      bar.append(title);
      chart.append(bar);
    }
  });
  const rateY = height - bottom - ratePerMinute * scale;
  chart.append(svg("line", { class: "rate-line", x1: left, x2: width, y1: rateY, y2: rateY }));
  const label = svg("text", { x: 2, y: rateY + 4 });
  label.textContent = fmt(ratePerMinute);
  chart.append(label);
  const first = svg("text", { x: left, y: height - 4 });
  first.textContent = "-30 min";
  const last = svg("text", { x: width - 30, y: height - 4 });
  last.textContent = "now";
  chart.append(first, last);
  const current = minutes[minutes.length - 1] || { sent: 0 };
  return el("div", { class: "chart", "data-channel": channel.channel },
    el("h3", {}, `${channel.channel.toUpperCase()} · ${fmt(channel.ratePerSecond)}/s configured · ${fmt(current.sent)} sent this minute`),
    chart,
    el("div", { class: "legend" },
      el("span", {}, el("span", { class: "swatch sent" }), "sent"),
      el("span", {}, el("span", { class: "swatch failed" }), "failed"),
      el("span", {}, el("span", { class: "swatch limited" }), "rate-limited"),
      el("span", {}, el("span", { class: "swatch rate" }), "configured rate")));
}

function dlqParts(name) {
  // send-sms-dlq -> sms, send; send-sms-bulk-dlq -> sms, bulk
  const match = /^send-(sms|email)(-bulk)?-dlq$/.exec(name);
  return match ? { channel: match[1], queue: match[2] ? "bulk" : "send" } : null;
}

async function peek(name) {
  const parts = dlqParts(name);
  try {
    const data = await call("GET", `/admin/dlq/${parts.channel}?queue=${parts.queue}&limit=20`);
    $("peek-title").textContent = `${name}: ${fmt(data.approximateCount)} dead letters (first ${data.messages.length})`;
    $("peek-rows").replaceChildren(...data.messages.map((m) => el("tr", {},
      el("td", {}, m.messageId || m.sqsMessageId), el("td", {}, m.workspaceId || "—"), el("td", {}, m.to || "—"),
      el("td", { class: "num" }, fmt(m.attempts)), el("td", { class: "wrap" }, m.lastError || "—"))));
    if (!data.messages.length) $("peek-rows").replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "empty")));
    $("peek").hidden = false;
  } catch (error) {
    notice(error.message, "error");
  }
}

function renderQueues(data) {
  $("queues").replaceChildren(...data.queues.map((q) => {
    const parts = q.deadLetter ? dlqParts(q.name) : null;
    const depth = (q.visible || 0) + (q.inFlight || 0);
    const actions = el("td", { class: "actions" });
    if (parts) {
      actions.append(el("button", { type: "button", class: "quiet", "data-action": "peek", onclick: () => peek(q.name) }, "Peek"));
      if (canWrite()) {
        actions.append(
          el("button", {
            type: "button", "data-action": "redrive", disabled: depth === 0,
            onclick: () => act(`Move every message of ${q.name} back to its queue?`, "POST",
              `/admin/dlq/${parts.channel}/redrive?queue=${parts.queue}`, undefined,
              (a) => `Redrive of ${q.name} started (task ${a.taskHandle}).`),
          }, "Redrive"),
          el("button", {
            type: "button", class: "danger", "data-action": "purge", disabled: depth === 0,
            onclick: () => act(`Delete every message of ${q.name}? This cannot be undone.`, "DELETE",
              `/admin/dlq/${parts.channel}?queue=${parts.queue}`, undefined, () => `${q.name} purged.`),
          }, "Purge"));
      }
    }
    return el("tr", { "data-queue": q.name, class: q.deadLetter && depth > 0 ? "alert" : "" },
      el("td", {}, q.name), el("td", { class: "num", "data-field": "visible" }, fmt(q.visible)),
      el("td", { class: "num" }, fmt(q.inFlight)), el("td", { class: "num" }, fmt(q.delayed)),
      el("td", { class: "num" }, age(q.oldestAgeSeconds)), actions);
  }));
}

function renderSchedules(data) {
  $("schedules").replaceChildren(...data.scheduleGroups.map((g) => el("tr", {},
    el("td", {}, g.group), el("td", { class: "num" }, fmt(g.scheduled)),
    el("td", { class: "wrap" }, g.nextDue.length ? g.nextDue.map((d) => `${when(d.sendAt)} ${d.workspaceId}`).join(" · ") : "—"))));
}

function renderWorkspaces(data) {
  const rows = [];
  for (const ws of data.workspaces) {
    [["sms", ws.sms], ["email", ws.email]].forEach(([name, c], index) => {
      const cells = [
        el("td", {}, index === 0 ? ws.workspaceId : ""), el("td", {}, name),
        el("td", { class: "num" }, fmt(c.total)), el("td", { class: "num", "data-field": "success" }, fmt(c.success)),
        el("td", { class: "num" }, fmt(c.failed)), el("td", { class: "num" }, fmt(c.rateLimited)),
        el("td", { class: "num" }, pct(c.successRate)), el("td", { class: "num" }, c.perSecondCap ? fmt(c.perSecondCap) : "—"),
      ];
      if (index === 0) {
        cells.push(el("td", {}, el("span", { class: "state " + (ws.paused ? "paused" : "running") }, ws.paused ? "paused" : "running")));
        const action = el("td", { class: "actions" });
        if (canWrite()) {
          const pause = !ws.paused;
          action.append(el("button", {
            type: "button", "data-action": pause ? "pause" : "resume",
            onclick: () => act(`${pause ? "Pause" : "Resume"} ${ws.workspaceId}? ${pause ? "Its messages wait until it is resumed." : ""}`,
              "POST", `/admin/queues/workspaces/${encodeURIComponent(ws.workspaceId)}/pause`, { paused: pause },
              () => `${ws.workspaceId} ${pause ? "paused" : "resumed"}.`),
          }, pause ? "Pause" : "Resume"));
        }
        cells.push(action);
      } else {
        cells.push(el("td", {}), el("td", {}));
      }
      rows.push(el("tr", { "data-workspace": index === 0 ? ws.workspaceId : null }, cells));
    });
  }
  $("workspaces").replaceChildren(...rows);
}

function renderBroadcasts(data) {
  if (!data.broadcasts.length) {
    $("broadcasts").replaceChildren(el("tr", {}, el("td", { colspan: 11, class: "muted" }, "no broadcasts yet")));
    return;
  }
  $("broadcasts").replaceChildren(...data.broadcasts.map((b) => {
    const done = b.sent + b.failed + b.cancelled;
    const left = b.queued + b.sending;
    const action = el("td", { class: "actions" });
    if (canWrite() && b.state === "active" && left > 0) {
      action.append(el("button", {
        type: "button", class: "danger", "data-action": "cancel",
        onclick: () => act(`Cancel broadcast ${b.name || b.broadcastId}? What is not yet sent is not sent.`, "POST",
          `/admin/queues/broadcasts/${encodeURIComponent(b.broadcastId)}/cancel`, undefined,
          (a) => `Broadcast cancelled: ${fmt(a.cancelled)} messages so far.`),
      }, "Cancel"));
    }
    return el("tr", { "data-broadcast": b.broadcastId },
      el("td", {}, b.name || b.broadcastId), el("td", {}, b.workspaceId), el("td", {}, b.channel),
      el("td", {}, el("span", { class: "state " + b.state, "data-field": "state" }, b.state)),
      el("td", {}, el("progress", { max: b.total || 1, value: done }), " ", pct(b.total ? done / b.total : null)),
      el("td", { class: "num" }, fmt(b.sent)), el("td", { class: "num" }, fmt(b.failed)),
      el("td", { class: "num" }, fmt(b.cancelled)), el("td", { class: "num" }, fmt(left)),
      el("td", { class: "num" }, b.etaSeconds === null ? "—" : age(b.etaSeconds)), action);
  }));
}

function render(data) {
  overview = data;
  $("scope").textContent = data.scope === "admin" ? "admin key" : `workspace ${data.workspaceId}`;
  $("refreshed").textContent = `updated ${when(data.generatedAt)}${data.readOnly ? " · read-only" : ""}`;
  for (const node of document.querySelectorAll("[data-admin]")) node.hidden = data.scope !== "admin";
  renderTotals(data);
  if (data.scope === "admin") {
    $("charts").replaceChildren(...data.channels.map(renderChart));
    renderQueues(data);
    renderSchedules(data);
  }
  renderWorkspaces(data);
  renderBroadcasts(data);
  const workspaceInput = $("search-workspace");
  if (data.scope === "workspace") {
    workspaceInput.value = data.workspaceId;
    workspaceInput.readOnly = true;
  }
}

async function refresh() {
  if (loading || !apiKey()) return;
  loading = true;
  try {
    render(await call("GET", "/admin/queues"));
    $("board").hidden = false;
    $("login").hidden = true;
    $("who").hidden = false;
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      stop();
      sessionStorage.removeItem(KEY_STORAGE);
      showLogin();
    }
    notice(error.message, "error");
  } finally {
    loading = false;
  }
}

function start() {
  stop();
  refresh();
  timer = window.setInterval(refresh, REFRESH_MS);
}

function stop() {
  if (timer !== null) window.clearInterval(timer);
  timer = null;
}

function showLogin() {
  $("board").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("key-input").focus();
}

async function search(event) {
  event.preventDefault();
  const params = new URLSearchParams({ workspaceId: $("search-workspace").value.trim() });
  params.set($("search-by").value, $("search-value").value.trim());
  try {
    const data = await call("GET", `/messages?${params}`);
    $("results").replaceChildren(...data.messages.map((m) => el("tr", { "data-message": m.messageId },
      el("td", {}, m.messageId), el("td", {}, m.channel), el("td", {}, m.to), el("td", {}, m.contactId),
      el("td", {}, el("span", { class: "state " + m.status }, m.status)), el("td", { class: "num" }, fmt(m.attempts)),
      el("td", {}, when(m.createdAt)), el("td", {}, when(m.sendAt)), el("td", {}, when(m.sentAt)),
      el("td", { class: "wrap" }, m.lastError || "—"))));
    $("results-note").textContent = `${data.messages.length} found`;
  } catch (error) {
    $("results").replaceChildren();
    $("results-note").textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, $("key-input").value.trim());
    $("key-input").value = "";
    notice("");
    start();
  });
  $("forget").addEventListener("click", () => {
    stop();
    sessionStorage.removeItem(KEY_STORAGE);
    overview = null;
    notice("");
    showLogin();
  });
  $("search-form").addEventListener("submit", search);
  if (apiKey()) start(); else showLogin();
});
