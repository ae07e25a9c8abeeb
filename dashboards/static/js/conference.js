// Federation conference control (联盟会控): the live control list of one conference and
// everything cascaded below it, over /ws/live (docs/live-api.md).
//
// Smooth at 10,000 venues and thousands of events per second: frames only update a Map;
// one requestAnimationFrame pass per display frame re-filters if needed and re-renders
// the rows that are visible (a virtual list of fixed-height rows), nothing else.
// Stable test hooks on every row: data-venue="{member}/{conference}/{venue}",
// data-status, data-muted, data-camera — current as deltas arrive.
import { api, h, showError, toast } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { fmtNum, t } from "./i18n.js";
import { showUnsyncedNote, unsyncedMembers } from "./unsynced.js";

const root = document.getElementById("conf-root");
const MEMBER = Number(root.dataset.member);
const CONF = root.dataset.number;
const ROW = 34;
const OVERSCAN = 8;
const listEl = document.getElementById("venues");
const space = listEl.querySelector(".vspace");
const connEl = document.getElementById("conn");
const countsEl = document.getElementById("counts");
const selCount = document.getElementById("selected-count");

const ICON = {
  joined: '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="6" fill="currentColor"/></svg>',
  not_joined: '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="5.5" fill="none" stroke="currentColor" stroke-width="2"/></svg>',
  ringing: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M3 11c0-5 2-8 5-8s5 3 5 8l1 1H2z" fill="currentColor"/><circle cx="8" cy="14" r="1.5" fill="currentColor"/></svg>',
  failed: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M3 3l10 10M13 3L3 13" stroke="currentColor" stroke-width="2.5"/></svg>',
  mic_on: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="5" y="1" width="6" height="9" rx="3" fill="currentColor"/><path d="M3 8a5 5 0 0 0 10 0M8 13v2" stroke="currentColor" fill="none" stroke-width="1.5"/></svg>',
  mic_off: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="5" y="1" width="6" height="9" rx="3" fill="currentColor"/><path d="M2 2l12 12" stroke="currentColor" stroke-width="2"/></svg>',
  cam_on: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="1" y="4" width="10" height="8" rx="1.5" fill="currentColor"/><path d="M11 7l4-2v6l-4-2z" fill="currentColor"/></svg>',
  cam_off: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="1" y="4" width="10" height="8" rx="1.5" fill="currentColor"/><path d="M1 1l14 14" stroke="currentColor" stroke-width="2"/></svg>',
};
const RESULT_TEXT = {
  ok: () => t("ok"), failed: () => t("failed"), timeout: () => t("timeout"),
  calling: () => t("calling"), acknowledged: () => t("acknowledged"),
};
const resultText = (s) => (RESULT_TEXT[s] ? RESULT_TEXT[s]() : s);
const LOSS = () => t("loss");
const STATUS_TEXT = {
  joined: () => t("Joined"), not_joined: () => t("Not joined"),
  ringing: () => t("Ringing"), failed: () => t("Failed"),
};

// ---- state -------------------------------------------------------------------------------
const venues = new Map(); // key -> venue
const results = new Map(); // key -> {status, reason}
const selected = new Set();
let tree = null; // the cascade tree of the snapshot
let memberName = new Map(); // member id -> domain
let parentOf = new Map(); // member id -> parent member id (in this conference's tree)
let shown = []; // keys after filter, in order
let orderDirty = true;
let renderQueued = false;
const filters = { members: new Set(), status: new Set(["joined", "not_joined", "ringing", "failed"]) };

const keyOf = (v) => `${v.member_id}/${v.conference}/${v.id}`;

function schedule(reorder) {
  if (reorder) orderDirty = true;
  if (!renderQueued) {
    renderQueued = true;
    requestAnimationFrame(render);
  }
}

function underSelectedMember(memberId) {
  if (!filters.members.size) return true;
  for (let m = memberId; m !== undefined && m !== null; m = parentOf.get(m)) {
    if (filters.members.has(m)) return true;
  }
  return false;
}

function refilter() {
  const keys = [];
  for (const [k, v] of venues) {
    if (filters.status.has(v.status) && underSelectedMember(v.member_id)) keys.push(k);
  }
  keys.sort((a, b) => {
    const va = venues.get(a), vb = venues.get(b);
    return va.member_id - vb.member_id || (va.name < vb.name ? -1 : va.name > vb.name ? 1 : 0);
  });
  shown = keys;
  orderDirty = false;
  space.style.height = `${shown.length * ROW}px`;
  const counts = { joined: 0, not_joined: 0, ringing: 0, failed: 0 };
  for (const v of venues.values()) counts[v.status] = (counts[v.status] || 0) + 1;
  countsEl.replaceChildren(
    ...Object.entries(counts).map(([s, n]) => h("span", { class: `st st-${s}` }, `${STATUS_TEXT[s]()}: ${fmtNum(n)}`)),
    h("span", { class: "dim" }, t("{shown} of {total} shown", { shown: fmtNum(shown.length), total: fmtNum(venues.size) })),
  );
}

// rows are reused: a pool of elements, each showing whichever visible venue is its slot
const pool = [];
function rowEl(i) {
  let el = pool[i];
  if (!el) {
    el = h("div", { class: "vrow", role: "row" },
      h("span", {}, h("input", { type: "checkbox", "aria-label": t("Select") })),
      h("span", { class: "name" }), h("span", { class: "member" }), h("span", { class: "status" }),
      h("span", { class: "ic mic" }), h("span", { class: "ic cam" }), h("span", { class: "stats" }),
      h("span", { class: "result" }));
    el.firstChild.firstChild.addEventListener("change", (ev) => {
      const k = el.dataset.venue;
      ev.target.checked ? selected.add(k) : selected.delete(k);
      el.classList.toggle("sel", ev.target.checked);
      updateSelCount();
    });
    pool[i] = el;
    listEl.append(el);
  }
  return el;
}

function statsText(s) {
  if (!s) return "";
  const parts = [];
  if (s.rx_kbps !== undefined) parts.push(`↓${fmtNum(Math.round(s.rx_kbps))}k`);
  if (s.tx_kbps !== undefined) parts.push(`↑${fmtNum(Math.round(s.tx_kbps))}k`);
  if (s.loss_pct !== undefined) parts.push(`${LOSS()} ${s.loss_pct}%`);
  if (s.rtt_ms !== undefined) parts.push(`${s.rtt_ms}ms`);
  return parts.join(" ");
}

function statsTitle(s) {
  if (!s) return "";
  return Object.entries(s).map(([k, v]) => `${k}: ${v}`).join("\n");
}

function fill(el, k, v) {
  if (el.dataset.venue !== k) {
    el.dataset.venue = k;
    const box = el.firstChild.firstChild;
    box.checked = selected.has(k);
    el.classList.toggle("sel", box.checked);
  }
  const muted = String(!!v.muted), camera = v.camera_on ? "on" : "off", stale = String(!!v.stale);
  if (el.dataset.status !== v.status) el.dataset.status = v.status;
  if (el.dataset.muted !== muted) el.dataset.muted = muted;
  if (el.dataset.camera !== camera) el.dataset.camera = camera;
  if (el.dataset.stale !== stale) el.dataset.stale = stale;
  const [, name, member, status, mic, cam, stats, result] = el.children;
  if (name.textContent !== v.name) { name.textContent = v.name; name.title = v.name; }
  const dom = memberName.get(v.member_id) || String(v.member_id);
  if (member.textContent !== dom) member.textContent = dom;
  const stKey = `${v.status}|${v.reason}|${stale}`;
  if (status._k !== stKey) {
    status._k = stKey;
    status.className = `status st st-${v.status}`;
    status.innerHTML = ICON[v.status] || "";
    status.append(document.createTextNode(STATUS_TEXT[v.status] ? STATUS_TEXT[v.status]() : v.status));
    status.title = [v.reason, v.stale ? t("link down: last known state") : ""].filter(Boolean).join(" · ");
  }
  if (mic._k !== muted) {
    mic._k = muted;
    mic.className = `ic mic ${v.muted ? "ic-off" : "ic-on"}`;
    mic.innerHTML = v.muted ? ICON.mic_off : ICON.mic_on;
    mic.setAttribute("aria-label", v.muted ? t("muted") : t("mic on"));
  }
  if (cam._k !== camera) {
    cam._k = camera;
    cam.className = `ic cam ${v.camera_on ? "ic-on" : "ic-off"}`;
    cam.innerHTML = v.camera_on ? ICON.cam_on : ICON.cam_off;
    cam.setAttribute("aria-label", v.camera_on ? t("camera on") : t("camera off"));
  }
  const st = statsText(v.stats);
  if (stats.textContent !== st) { stats.textContent = st; stats.title = statsTitle(v.stats); }
  const r = results.get(k);
  const rText = r ? (r.status === "ok" ? t("done") : r.status === "pending" ? t("sent…") : `${resultText(r.status)}: ${r.reason}`) : "";
  if (result.textContent !== rText) {
    result.textContent = rText;
    result.title = rText;
    result.className = `result ${r ? "res-" + r.status : ""}`;
    if (r) el.dataset.result = r.status; else delete el.dataset.result;
  }
}

function render() {
  renderQueued = false;
  if (orderDirty) refilter();
  const top = listEl.scrollTop;
  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((top + listEl.clientHeight) / ROW) + OVERSCAN);
  let i = 0;
  for (let n = first; n < last; n++, i++) {
    const k = shown[n];
    const v = venues.get(k);
    const el = rowEl(i);
    el.hidden = false;
    el.style.transform = `translateY(${n * ROW}px)`;
    fill(el, k, v);
  }
  for (; i < pool.length; i++) {
    if (!pool[i].hidden) { pool[i].hidden = true; pool[i].dataset.venue = ""; }
  }
}
listEl.addEventListener("scroll", () => schedule(false), { passive: true });
window.addEventListener("resize", () => schedule(false));

// ---- members, tree, breadcrumb -----------------------------------------------------------
function walkTree(node, parent, out) {
  if (!node) return;
  if (node.member_id !== null && node.member_id !== undefined) {
    out.push({ ...node, parent });
  }
  for (const c of node.children || []) walkTree(c, node.member_id, out);
}

function showTree() {
  const nodes = [];
  walkTree(tree, null, nodes);
  memberName = new Map(nodes.map((n) => [n.member_id, n.domain]));
  parentOf = new Map(nodes.map((n) => [n.member_id, n.parent]));
  const ul = document.getElementById("conf-members");
  const depth = (m) => { let d = 0; for (let p = parentOf.get(m); p != null; p = parentOf.get(p)) d++; return d; };
  ul.replaceChildren(...nodes.map((n) => h("li", { class: `d${Math.min(depth(n.member_id), 4)}` },
    h("label", { class: "check" },
      h("input", { type: "checkbox", value: n.member_id, checked: filters.members.has(n.member_id),
        onchange: (ev) => {
          ev.target.checked ? filters.members.add(n.member_id) : filters.members.delete(n.member_id);
          schedule(true);
        } }),
      h("span", { class: `txt d${Math.min(depth(n.member_id), 4)}`, title: n.domain }, n.domain),
      n.stale ? h("span", { class: "err" }, ` (${t("link down")})`) : null))));
  const subs = document.getElementById("sub-conferences");
  const children = (tree && tree.children) || [];
  subs.replaceChildren(...(children.length ? children : []).map((c) => h("li", {},
    h("a", { href: `/conferences/${c.member_id}/${encodeURIComponent(c.conference)}?trail=${encodeURIComponent(trailWith())}` },
      `${c.domain} · ${c.conference}`))));
  if (!children.length) subs.append(h("li", { class: "dim" }, t("none")));
  document.getElementById("conf-title").textContent = tree ? `${tree.domain} · ${CONF}` : CONF;
  callMembers(nodes);
  pointOutUnsynced(nodes);
}

// members not in step may be missing here: named, except those that show anyway
let unsyncedAsked = 0;
let unsyncedFor = null;
async function pointOutUnsynced(nodes) {
  const present = new Set(nodes.map((n) => n.member_id));
  const key = [...present].sort().join(",");
  if (key === unsyncedFor) return; // asked for these members already
  unsyncedFor = key;
  const mine = ++unsyncedAsked;
  const members = await unsyncedMembers();
  if (mine !== unsyncedAsked) return;
  showUnsyncedNote(document.getElementById("unsynced"), new Map([...members].filter(([id]) => !present.has(id))));
}

function trail() {
  const raw = new URLSearchParams(location.search).get("trail") || "";
  return raw ? raw.split(",").map((x) => { const [m, ...c] = x.split(":"); return { member: Number(m), conference: c.join(":") }; }) : [];
}
function trailWith() {
  return [...trail().map((x) => `${x.member}:${x.conference}`), `${MEMBER}:${CONF}`].join(",");
}
function breadcrumb() {
  const ol = document.getElementById("breadcrumb");
  const items = trail();
  ol.replaceChildren(...items.map((x, i) => h("li", {},
    h("a", { href: `/conferences/${x.member}/${encodeURIComponent(x.conference)}${i ? "?trail=" + encodeURIComponent(items.slice(0, i).map((y) => `${y.member}:${y.conference}`).join(",")) : ""}` },
      `${x.conference}`))), h("li", { "aria-current": "page" }, CONF));
}

// ---- the live stream ----------------------------------------------------------------------
let ws = null;
let seq = 0;
let backoff = 500;
let subId = 0;
const pending = new Map(); // command id -> [keys]

function setConn(state, text) {
  connEl.dataset.state = state;
  connEl.textContent = text;
}

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/live`;
  setConn("connecting", t("Connecting…"));
  ws = new WebSocket(url);
  ws.onopen = () => {
    backoff = 500;
    subscribe();
  };
  ws.onmessage = (ev) => onFrame(JSON.parse(ev.data));
  ws.onclose = (ev) => {
    setConn("closed", t("Connection lost; reconnecting…"));
    for (const v of venues.values()) v.stale = true;
    schedule(false);
    if (ev.code === 1008 && ev.reason && ev.reason.includes("password")) return;
    setTimeout(connect, backoff + Math.random() * backoff);
    backoff = Math.min(backoff * 2, 15000);
  };
}

function subscribe() {
  subId += 1;
  seq = 0;
  ws.send(JSON.stringify({ type: "subscribe", id: `s${subId}`, member_id: MEMBER, conference: CONF }));
}

function onFrame(f) {
  if (f.type === "snapshot" && f.id === `s${subId}`) {
    venues.clear();
    for (const v of f.venues) venues.set(keyOf(v), v);
    for (const k of [...selected]) if (!venues.has(k)) selected.delete(k);
    tree = f.tree;
    seq = f.seq;
    showTree();
    updateSelCount();
    setConn("open", t("Live"));
    schedule(true);
  } else if (f.type === "delta" && f.id === `s${subId}`) {
    if (seq && f.seq !== seq + 1) { subscribe(); return; } // a gap: start over
    seq = f.seq;
    let reorder = false;
    for (const v of f.venues) {
      const k = keyOf(v);
      const old = venues.get(k);
      if (!old || old.status !== v.status || old.name !== v.name) reorder = true;
      venues.set(k, v);
    }
    for (const r of f.removed || []) { venues.delete(keyOf(r)); selected.delete(keyOf(r)); reorder = true; }
    if (f.tree) { tree = f.tree; showTree(); }
    schedule(reorder);
  } else if (f.type === "result") {
    const keys = pending.get(f.id) || [];
    const k = f.venue ? keyOf(f.venue) : keys[0];
    if (k) results.set(k, { status: f.status, reason: f.reason || "" });
    if (f.status !== "ok" && !k) toast(`${resultText(f.status)}: ${f.reason}`);
    schedule(false);
  } else if (f.type === "error") {
    if (f.id === `s${subId}`) {
      setConn("closed", f.message);
      countsEl.replaceChildren(h("p", { class: "error", role: "alert" }, f.message));
    } else toast(f.message);
  } else if (f.type === "call_progress") {
    showProgress(f);
  }
}

// ---- commands -----------------------------------------------------------------------------
let cmdSeq = 0;
const newId = () => `c${Date.now().toString(36)}${(cmdSeq++).toString(36)}`;

function updateSelCount() {
  selCount.textContent = selected.size ? t("{n} selected", { n: fmtNum(selected.size) }) : "";
}

function send(frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN) { toast(t("Not connected; try again in a moment.")); return false; }
  ws.send(JSON.stringify(frame));
  return true;
}

async function command(kind) {
  const keys = [...selected].filter((k) => venues.has(k));
  if (!keys.length) { toast(t("Select venues first.")); return; }
  if (kind === "hang_up" && !(await confirmDialog(t("Hang up {n} venues?", { n: keys.length }), { confirmLabel: t("Hang up"), danger: true }))) return;
  if (kind === "call") { // re-invite: one command per venue that is not in the call
    for (const k of keys) {
      const v = venues.get(k);
      if (v.status === "joined") continue;
      const id = newId();
      pending.set(id, [k]);
      results.set(k, { status: "pending", reason: "" });
      send({ type: "command", id, member_id: v.member_id, conference: v.conference, venue: v.id, kind: "call" });
    }
    schedule(false);
    return;
  }
  const id = newId();
  pending.set(id, keys);
  for (const k of keys) results.set(k, { status: "pending", reason: "" });
  const refs = keys.map((k) => { const v = venues.get(k); return { member_id: v.member_id, conference: v.conference, id: v.id }; });
  for (let i = 0; i < refs.length; i += 1000) {
    send({ type: "command", id: i ? newId() : id, member_id: MEMBER, conference: CONF, kind, venues: refs.slice(i, i + 1000) });
  }
  schedule(false);
}

document.querySelectorAll(".conf-tools button[data-kind]").forEach((b) => b.addEventListener("click", () => command(b.dataset.kind)));
document.getElementById("layout").addEventListener("change", (ev) => {
  if (!ev.target.value) return;
  const id = newId();
  if (send({ type: "command", id, member_id: MEMBER, conference: CONF, kind: "layout", args: { layout: ev.target.value } })) {
    toast(t("Layout sent."));
  }
});
document.getElementById("select-all").addEventListener("change", (ev) => {
  if (ev.target.checked) shown.forEach((k) => selected.add(k));
  else selected.clear();
  pool.forEach((el) => { if (el.dataset.venue) { el.firstChild.firstChild.checked = selected.has(el.dataset.venue); el.classList.toggle("sel", selected.has(el.dataset.venue)); } });
  updateSelCount();
});
document.getElementById("status-filter").addEventListener("change", (ev) => {
  ev.target.checked ? filters.status.add(ev.target.value) : filters.status.delete(ev.target.value);
  schedule(true);
});

// ---- one-click call -----------------------------------------------------------------------
const dialog = document.getElementById("call-dialog");
const callForm = document.getElementById("call-form");
let callId = null;

function callMembers(nodes) {
  const box = document.getElementById("call-members");
  if (box.dataset.filled === "1") return;
  box.dataset.filled = "1";
  box.replaceChildren(...nodes.filter((n) => n.member_id !== MEMBER).map((n) => h("label", { class: "check" },
    h("input", { type: "checkbox", value: n.member_id, checked: true }), n.domain)));
}

function showProgress(p) {
  if (callId && p.call_id !== callId) return;
  const box = document.getElementById("call-progress");
  box.replaceChildren(
    h("p", {}, p.state === "done" ? t("Call finished.") : t("Calling…")),
    h("table", { class: "progress list" },
      h("thead", {}, h("tr", {}, h("th", {}, t("Member")), h("th", {}, t("Status")), h("th", {}, t("Joined")),
        h("th", {}, t("Ringing")), h("th", {}, t("Failed")), h("th", {}, t("Reason")))),
      h("tbody", {}, ...(p.members || []).map((m) => h("tr", { dataset: { member: m.member_id, status: m.status } },
        h("td", {}, memberName.get(m.member_id) || m.member_id), h("td", {}, resultText(m.status)),
        h("td", {}, fmtNum(m.venues?.joined ?? 0)), h("td", {}, fmtNum(m.venues?.ringing ?? 0)),
        h("td", {}, fmtNum(m.venues?.failed ?? 0)), h("td", {}, m.reason || ""))))));
  const failed = (p.members || []).some((m) => m.status === "failed" || m.status === "timeout");
  document.getElementById("call-recall").hidden = !(p.state === "done" && failed);
}

async function poll() {
  if (!callId || !dialog.open) return;
  try {
    const p = await api("GET", `/live/calls/${encodeURIComponent(callId)}`);
    showProgress(p);
    if (p.state !== "done") setTimeout(poll, 1000);
  } catch (e) {
    showError(callForm.querySelector(".error"), e);
  }
}

document.getElementById("call-all").addEventListener("click", () => {
  document.getElementById("call-progress").replaceChildren();
  showError(callForm.querySelector(".error"), null);
  dialog.showModal();
});
document.getElementById("call-start").addEventListener("click", async () => {
  const members = [...document.querySelectorAll("#call-members input:checked")].map((i) => Number(i.value));
  showError(callForm.querySelector(".error"), null);
  try {
    const res = await api("POST", "/live/call-all", { member_id: MEMBER, conference: CONF, members });
    callId = res.call_id;
    poll();
  } catch (e) {
    showError(callForm.querySelector(".error"), e);
  }
});
document.getElementById("call-recall").addEventListener("click", async () => {
  try {
    const res = await api("POST", `/live/calls/${encodeURIComponent(callId)}/recall`, {});
    if (res && res.call_id) callId = res.call_id;
    poll();
  } catch (e) {
    showError(callForm.querySelector(".error"), e);
  }
});

breadcrumb();
connect();
