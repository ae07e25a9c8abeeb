// A member's federation data (accounts, physical rooms, VMRs, call routes) and its sync.
// One generic page: each data set is a small description (SETS) of its API resource,
// columns and form fields; the list, filter, paging, add / edit / delete, CSV import and
// export are the same code for all. The member comes from the caller's subtree (the
// tree); the path /data/{member} names it, and the server refuses one outside the scope.
// Validation is the API's: its refusals are shown inline, in the page's language.
import { api, h, showError, toast } from "./api.js";
import { fmtDate, fmtNum, t } from "./i18n.js";
import { renderTree, reveal } from "./tree.js";
import { showUnsyncedNote, unsyncedMembers } from "./unsynced.js";

const WRITER = document.body.dataset.role === "admin"; // the API's WRITERS; security reads
const PAGE_SIZE = 50;
const MAX_FETCHES = 100; // pages of the API's list (`?after=`) loaded for one member
const MAX_BODY = 64 * 1024; // the API's body limit: an import is one JSON body

const KINDS = {
  user: () => t("User account"),
  room_device: () => t("Room-device account"),
  other: () => t("Other account"),
};
const RANGE_TYPES = {
  system_account: () => t("System accounts"), general_meeting: () => t("General meetings"),
  vmr: () => t("Virtual meeting rooms"),
};
const NUMBER = { pattern: "[0-9]{1,15}", maxlength: 15, inputmode: "numeric" };

/** The data sets of the page: API resource → columns, form fields, what the filter reads. */
const SETS = {
  accounts: {
    caption: () => t("Accounts"),
    fields: [
      { name: "kind", label: () => t("Account kind"), options: KINDS, required: true, show: (v) => (KINDS[v] || (() => v))() },
      { name: "number", label: () => t("Number"), required: true, ...NUMBER },
      { name: "name", label: () => t("Account name"), required: true, maxlength: 64 },
      { name: "display_name", label: () => t("Display name"), maxlength: 128 },
      { name: "password", label: () => t("Password"), secret: true, maxlength: 128 },
    ],
    search: ["number", "name", "display_name"],
  },
  rooms: {
    caption: () => t("Physical rooms"),
    fields: [
      { name: "name", label: () => t("Name"), required: true, maxlength: 128 },
      { name: "location", label: () => t("Location"), maxlength: 256 },
      { name: "capacity", label: () => t("Capacity"), integer: true, min: 0, max: 100000 },
      { name: "remark", label: () => t("Remark"), maxlength: 512 },
    ],
    search: ["name", "location"],
  },
  vmrs: {
    caption: () => t("Virtual meeting rooms"),
    fields: [
      { name: "number", label: () => t("Number"), required: true, ...NUMBER },
      { name: "name", label: () => t("Name"), required: true, maxlength: 128 },
      { name: "remark", label: () => t("Remark"), maxlength: 512 },
    ],
    search: ["number", "name"],
  },
  routes: {
    caption: () => t("Call routes"),
    fields: [
      { name: "prefix", label: () => t("Number prefix"), required: true, ...NUMBER },
      { name: "destination", label: () => t("Destination"), required: true, maxlength: 253 },
      { name: "priority", label: () => t("Priority"), integer: true, min: 0, max: 1000 },
      { name: "remark", label: () => t("Remark"), maxlength: 512 },
    ],
    search: ["prefix", "destination"],
  },
};

/** The nine synced data sets, in the API's order. */
const DATASETS = {
  user_accounts: () => t("User accounts"), room_accounts: () => t("Room-device accounts"),
  other_accounts: () => t("Other accounts"), rooms: () => t("Physical rooms"),
  vmrs: () => t("Virtual meeting rooms"), routes: () => t("Call routes"),
  federation: () => t("Federation list"), domains: () => t("Primary domains"),
  numbers: () => t("Number resources"),
};
const LINK_STATES = {
  up: () => t("up"), connecting: () => t("connecting"), down: () => t("down"),
  stopped: () => t("stopped"), misconfigured: () => t("misconfigured"),
};
const OUTCOMES = {
  sent: () => t("sent"), "in step": () => t("in step"),
  waiting: () => t("waiting for the acknowledgement"), "link down": () => t("link down"),
  "too large": () => t("too large for one link frame"),
};

const $ = (id) => document.getElementById(id);
const root = $("data-root");
const treeEl = $("data-tree");
const tabs = [...document.querySelectorAll('[role="tab"]')];
const setPanel = $("set-panel");
const syncPanel = $("sync-panel");
const setError = $("set-error");
const filterEl = $("set-filter");
const kindEl = $("kind-filter");
const dialog = $("item-dialog");
const itemForm = $("item-form");

const params = new URLSearchParams(location.search);
let byId = new Map();
let member = null; // the member shown
let set = (SETS[params.get("set")] || params.get("set") === "sync") ? params.get("set") : "accounts";
let items = []; // every item of the member's current data set, as loaded
let shown = []; // after the filter
let pageNo = 0;
let loading = 0; // which load owns the list (a later choice wins)
let unsynced = new Map(); // member id → {display_name, datasets} not in step
let links = {};

kindEl.value = params.get("kind") && KINDS[params.get("kind")] ? params.get("kind") : "";

function name(id) {
  return byId.get(id)?.display_name || t("member {id}", { id });
}

function remember() {
  const q = new URLSearchParams({ set });
  if (set === "accounts" && kindEl.value) q.set("kind", kindEl.value);
  history.replaceState(null, "", `/data/${member.id}?${q}`);
}

// -- the API's refusals, in the page's language ------------------------------------------

/** The field a refusal is about (marked invalid and focused). */
const FIELD_OF = {
  number_outside_ranges: "number", number_taken: "number", name_taken: "name",
  invalid_name: "name", prefix_taken: "prefix", weak_password: "password",
  password_required: "password",
};

function explain(e) {
  const d = e.details || {};
  switch (e.code) {
    case "number_outside_ranges":
      return t("Number {number} is not in this member's ranges for it ({types}).", {
        number: d.number,
        types: (d.range_types || []).map((r) => (RANGE_TYPES[r] || (() => r))()).join(", "),
      });
    case "number_taken":
    case "name_taken":
    case "prefix_taken": {
      const value = d.number ?? d.name ?? d.prefix ?? "";
      // within the caller's scope the API names the holder; outside it only says "taken"
      if (d.member_id != null && d.id != null) {
        return t("{value} is already used by item {id} of {member}.", { value, id: d.id, member: name(d.member_id) });
      }
      return t("{value} is already taken.", { value });
    }
    case "taken":
      return t("That number or name was taken meanwhile.");
    case "password_required":
      return t("Changing an account's number needs its password too.");
    case "weak_password":
      return t("The password is too weak: {reasons}", { reasons: (d.reasons || []).join("; ") });
    case "invalid_name":
      return t("An account name is 1–64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit.");
    case "unknown_item":
      return t("This item no longer exists.");
    case "invalid_input": {
      // the schema's findings: the field by its label here, the rule as the API says it
      const fields = Object.fromEntries((SETS[set]?.fields || []).map((f) => [f.name, f.label()]));
      const errors = d.errors || [];
      if (!errors.length) return e.message;
      return errors.map((x) => `${fields[x.path] || x.path || t("the request")}: ${x.message}`).join("; ");
    }
    default:
      return e.message;
  }
}

// -- the member tree ------------------------------------------------------------------

async function loadTree() {
  const { members } = await api("GET", "/members");
  byId = new Map();
  const walk = (m) => { byId.set(m.id, m); (m.children || []).forEach(walk); };
  members.forEach(walk);
  unsynced = await unsyncedMembers();
  if (WRITER) {
    try {
      links = {};
      for (const l of (await api("GET", "/links")).links) links[l.member_id] = l;
    } catch (e) { /* no links on this node */ }
  }
  treeEl._members = members;
  drawTree(members);
  showUnsynced();
  return members;
}

function drawTree(members) {
  renderTree(treeEl, members, {
    selected: member?.id,
    label: (m) => h("span", { class: "node" }, m.display_name,
      unsynced.has(m.id) ? h("span", { class: "badge warn", role: "img", title: t("Data not in step"),
        "aria-label": t("Data not in step") }, "⚠") : null),
    onSelect: (m) => choose(m.id),
  });
}

function showUnsynced() {
  const shown = new Map([...unsynced].filter(([id]) => byId.has(id)));
  showUnsyncedNote($("unsynced"), shown, { onOpen: (id) => { set = "sync"; choose(id); } });
}

// -- choosing a member and a data set -------------------------------------------------

function choose(id) {
  member = byId.get(id) || null;
  if (!member) return;
  treeEl.querySelectorAll('[role="treeitem"]').forEach((li) => {
    li.setAttribute("aria-selected", String(Number(li.dataset.member) === id));
  });
  $("data-member").textContent = member.display_name;
  showBinding();
  remember();
  openSet(set);
}

function showBinding() {
  const el = $("data-binding");
  const sso = $("sso");
  if (member.server_url) {
    const link = links[member.id];
    el.textContent = link
      ? t("Bound to {url} — link {state}", { url: member.server_url, state: (LINK_STATES[link.state] || (() => link.state))() })
      : t("Bound to {url}", { url: member.server_url });
  } else {
    el.replaceChildren(t("Not bound to a member server."), " ",
      h("a", { href: `/federation#member-${member.id}` }, t("Bind it on the federation page")));
  }
  if (sso) sso.hidden = !member.server_url;
}

function openSet(name, focus = false) {
  if (name !== set) filterEl.value = ""; // a filter is about one data set's fields
  set = name;
  for (const tab of tabs) {
    const on = tab.dataset.set === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on && focus) tab.focus();
  }
  remember();
  showError(setError, null);
  $("import-report").hidden = true;
  if (name === "sync") {
    loading++; // a list still loading is not shown any more
    setPanel.hidden = true;
    syncPanel.hidden = false;
    showSync();
    return;
  }
  syncPanel.hidden = true;
  setPanel.hidden = false;
  setPanel.setAttribute("aria-labelledby", `tab-${name}`);
  $("kind-filter-label").hidden = name !== "accounts";
  $("set-export").href = `/api/v1/members/${member.id}/${name}/export`;
  const columns = $("set-columns");
  if (columns) {
    columns.textContent = t("Columns: {columns}", { columns: SETS[name].fields.map((f) => f.name).join(", ") });
  }
  header();
  loadItems();
}

tabs.forEach((tab, i) => {
  tab.addEventListener("click", () => member && openSet(tab.dataset.set));
  tab.addEventListener("keydown", (ev) => {
    let j = i;
    if (ev.key === "ArrowRight") j = (i + 1) % tabs.length;
    else if (ev.key === "ArrowLeft") j = (i - 1 + tabs.length) % tabs.length;
    else if (ev.key === "Home") j = 0;
    else if (ev.key === "End") j = tabs.length - 1;
    else return;
    ev.preventDefault();
    if (member) openSet(tabs[j].dataset.set, true);
  });
});

// -- the list -------------------------------------------------------------------------

function header() {
  const spec = SETS[set];
  $("set-caption").textContent = spec.caption();
  const cols = spec.fields.filter((f) => !f.secret);
  document.querySelector("#set-items thead").replaceChildren(h("tr", {},
    cols.map((f) => h("th", { scope: "col" }, f.label())),
    WRITER ? h("th", { scope: "col" }, t("Actions")) : null));
}

async function loadItems() {
  const mine = ++loading;
  const mid = member.id;
  const name = set;
  const body = document.querySelector("#set-items tbody");
  const table = $("set-items");
  table.setAttribute("aria-busy", "true");
  items = [];
  shown = [];
  body.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "dim" }, t("Loading…"))));
  const all = [];
  let complete = false;
  try {
    let after = 0;
    for (let i = 0; i < MAX_FETCHES && !complete; i++) {
      const batch = (await api("GET", `/members/${mid}/${name}?after=${after}`))[name];
      if (mine !== loading) return;
      complete = !batch.length;
      all.push(...batch);
      if (batch.length) after = batch[batch.length - 1].id;
    }
  } catch (e) {
    if (mine === loading) {
      showError(setError, e);
      table.setAttribute("aria-busy", "false");
    }
    return;
  }
  if (mine !== loading) return;
  items = all;
  if (!complete) {
    showError(setError, new Error(t("Only the first {n} items are shown; export the CSV for all of them.", { n: fmtNum(all.length) })));
  }
  applyFilter(false);
  table.setAttribute("aria-busy", "false");
}

function applyFilter(resetPage = true) {
  const spec = SETS[set];
  const needle = filterEl.value.trim().toLowerCase();
  const kind = set === "accounts" ? kindEl.value : "";
  shown = items.filter((it) => (!kind || it.kind === kind)
    && (!needle || spec.search.some((f) => String(it[f] ?? "").toLowerCase().includes(needle))));
  if (resetPage) pageNo = 0;
  pageNo = Math.min(pageNo, Math.max(0, Math.ceil(shown.length / PAGE_SIZE) - 1));
  drawPage();
}

function drawPage() {
  const spec = SETS[set];
  const cols = spec.fields.filter((f) => !f.secret);
  const body = document.querySelector("#set-items tbody");
  const from = pageNo * PAGE_SIZE;
  const rows = shown.slice(from, from + PAGE_SIZE).map((it) => h("tr", { dataset: { item: it.id } },
    cols.map((f) => h("td", { dataset: { field: f.name } },
      f.show ? f.show(it[f.name]) : f.integer ? fmtNum(it[f.name]) : it[f.name] ?? "")),
    WRITER ? h("td", { class: "actions" },
      h("button", { type: "button", class: "small", onclick: () => edit(it),
        "aria-label": t("Edit {item}", { item: label(it) }) }, t("Edit")),
      h("button", { type: "button", class: "small danger", onclick: (ev) => askRemove(it, ev.currentTarget.parentElement),
        "aria-label": t("Delete {item}", { item: label(it) }) }, t("Delete"))) : null));
  if (!rows.length) {
    rows.push(h("tr", {}, h("td", { colspan: cols.length + 1, class: "dim" },
      items.length ? t("Nothing matches the filter.") : t("Nothing here yet."))));
  }
  body.replaceChildren(...rows);
  const last = Math.min(shown.length, from + PAGE_SIZE);
  $("set-range").textContent = shown.length
    ? t("{from}–{to} of {total}", { from: fmtNum(from + 1), to: fmtNum(last), total: fmtNum(shown.length) })
    : "";
  $("set-prev").disabled = pageNo === 0;
  $("set-next").disabled = last >= shown.length;
}

function label(it) {
  return [it.number ?? it.prefix, it.name ?? it.destination].filter((x) => x != null).join(" ");
}

filterEl.addEventListener("input", () => applyFilter());
kindEl.addEventListener("change", () => { remember(); applyFilter(); });
$("set-prev").addEventListener("click", () => { pageNo = Math.max(0, pageNo - 1); drawPage(); });
$("set-next").addEventListener("click", () => { pageNo += 1; drawPage(); });

// -- add / edit / delete ------------------------------------------------------------

function input(f, value, editing) {
  if (f.options) {
    return h("select", { name: f.name, required: f.required },
      Object.entries(f.options).map(([v, l]) => h("option", { value: v, selected: v === value }, l())));
  }
  return h("input", {
    name: f.name,
    type: f.secret ? "password" : f.integer ? "number" : "text",
    // a password is write-only: never filled in, empty keeps the stored one
    value: f.secret || value == null ? null : String(value),
    required: f.required && !(f.secret && editing),
    maxlength: f.maxlength, pattern: f.pattern, inputmode: f.inputmode, min: f.min, max: f.max,
    autocomplete: f.secret ? "new-password" : "off",
    "aria-describedby": f.secret && editing ? "password-hint" : null,
  });
}

function openForm(title, item, submit) {
  const spec = SETS[set];
  const editing = !!item;
  $("item-dialog-h").textContent = title;
  const initial = item || (set === "accounts" && kindEl.value ? { kind: kindEl.value } : {});
  $("item-fields").replaceChildren(...spec.fields.map((f) => h("label", {}, f.label(),
    input(f, initial[f.name], editing),
    f.secret && editing ? h("span", { id: "password-hint", class: "hint" }, t("Leave empty to keep the password.")) : null)));
  const err = itemForm.querySelector(".error");
  showError(err, null);
  itemForm.onsubmit = async (ev) => {
    ev.preventDefault();
    showError(err, null);
    itemForm.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
    const values = {};
    for (const f of spec.fields) {
      const el = itemForm.elements[f.name];
      const raw = el.value;
      if (f.secret) {
        if (raw) values[f.name] = raw;
      } else if (f.integer) {
        if (raw !== "") values[f.name] = Number(raw);
      } else if (raw !== "" || (editing && (item[f.name] ?? "") !== "")) {
        values[f.name] = raw; // an emptied optional text clears it
      }
    }
    const button = itemForm.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      await submit(values);
      dialog.close();
      await loadItems();
      refreshUnsynced();
    } catch (e) {
      showError(err, { message: explain(e) });
      const names = e.code === "invalid_input"
        ? (e.details?.errors || []).map((x) => x.path) : [FIELD_OF[e.code]];
      const fields = names.map((n) => n && itemForm.elements[n]).filter(Boolean);
      fields.forEach((el) => el.setAttribute("aria-invalid", "true"));
      fields[0]?.focus();
    } finally {
      button.disabled = false;
    }
  };
  dialog.showModal();
  itemForm.querySelector("input, select")?.focus();
}

itemForm.querySelector('[data-role="cancel"]').addEventListener("click", () => dialog.close());

function add() {
  const mid = member.id;
  const name = set;
  openForm(t("Add to {member}: {set}", { member: member.display_name, set: SETS[name].caption() }), null,
    async (values) => {
      await api("POST", `/members/${mid}/${name}`, values);
      toast(t("Added."));
    });
}

function edit(item) {
  const mid = member.id;
  const name = set;
  openForm(t("Edit {item}", { item: label(item) }), item, async (values) => {
    const changes = {};
    for (const [k, v] of Object.entries(values)) if (v !== item[k]) changes[k] = v;
    if (Object.keys(changes).length) await api("PATCH", `/members/${mid}/${name}/${item.id}`, changes);
    toast(t("Saved."));
  });
}

/** Ask on the row itself (no window.confirm): "Delete …?" with Delete / Cancel. */
function askRemove(item, cell) {
  const before = [...cell.childNodes];
  const back = () => { cell.replaceChildren(...before); before[before.length - 1].focus(); };
  const yes = h("button", { type: "button", class: "small danger", "data-role": "confirm", onclick: () => remove(item) },
    t("Delete"));
  cell.replaceChildren(h("span", { role: "alert" }, t("Delete {item}?", { item: label(item) })), " ", yes,
    h("button", { type: "button", class: "small", "data-role": "cancel", onclick: back,
      onkeydown: (ev) => ev.key === "Escape" && back() }, t("Cancel")));
  yes.addEventListener("keydown", (ev) => ev.key === "Escape" && back());
  yes.focus();
}

async function remove(item) {
  showError(setError, null);
  try {
    await api("DELETE", `/members/${member.id}/${set}/${item.id}`);
    toast(t("Deleted."));
    await loadItems();
    refreshUnsynced();
  } catch (e) {
    showError(setError, { message: explain(e) });
  }
}

$("set-add")?.addEventListener("click", () => member && add());

// -- CSV import (all rows or none) ----------------------------------------------------

const importForm = $("set-import");
importForm?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(setError, null);
  const report = $("import-report");
  report.hidden = true;
  const file = importForm.elements.file.files[0];
  if (!file) {
    showError(setError, new Error(t("Choose a CSV file first.")));
    return;
  }
  const csv = await file.text();
  if (new Blob([JSON.stringify({ csv })]).size > MAX_BODY) {
    showError(setError, new Error(t("The file is larger than one import takes (64 KiB); split it.")));
    return;
  }
  try {
    const res = await api("POST", `/members/${member.id}/${set}/import`, { csv });
    toast(t("Rows imported: {n}.", { n: fmtNum(res.imported) }));
    importForm.reset();
    await loadItems();
    refreshUnsynced();
  } catch (e) {
    if (e.code === "import_refused") {
      const rows = e.details.rows || [];
      report.querySelector("tbody").replaceChildren(...rows.map((r) => h("tr", { dataset: { row: r.row } },
        h("td", {}, fmtNum(r.row)), h("td", {}, r.code), h("td", {}, explain({ code: r.code, message: r.message, details: {} })))));
      report.hidden = false;
      showError(setError, new Error(t("Rows refused: {count}; nothing was imported.", { count: fmtNum(e.details.count ?? rows.length) })));
    } else if (e.code === "invalid_csv") {
      const d = e.details || {};
      const parts = [];
      if (d.unknown?.length) parts.push(t("unknown columns: {columns}", { columns: d.unknown.join(", ") }));
      if (d.missing?.length) parts.push(t("missing columns: {columns}", { columns: d.missing.join(", ") }));
      showError(setError, new Error(parts.length
        ? t("The file's columns do not fit: {problems}", { problems: parts.join("; ") }) : e.message));
    } else {
      showError(setError, e);
    }
  }
});

// -- sync -----------------------------------------------------------------------------

const syncForm = $("sync-form");
const syncBody = document.querySelector("#sync-status tbody");
const syncError = $("sync-error");
let syncing = 0;

const STATES = {
  failing: () => t("failing"), pending: () => t("pending"), in_step: () => t("in step"),
  behind: () => t("behind"),
};

/** A data set's state from its status: failing, pending, in_step or behind. */
function stateOf(s) {
  if (s.last_error) return "failing";
  if (s.pending) return "pending";
  return s.acked_version === s.version ? "in_step" : "behind";
}

/** Read the member's sync status and show it; `results` (per data set) fills the last column. */
async function showSync(results = null, { background = false } = {}) {
  const mid = member.id;
  const table = $("sync-status");
  showError(syncError, null);
  table.setAttribute("aria-busy", "true");
  let status;
  try {
    status = (await api("GET", `/members/${mid}/sync`, undefined, { background })).datasets;
  } catch (e) {
    showError(syncError, e);
    table.setAttribute("aria-busy", "false");
    return null;
  }
  if (mid !== member.id) return null;
  table.setAttribute("aria-busy", "false");
  const chosen = new Set([...syncBody.querySelectorAll("input:checked")].map((el) => el.value));
  syncBody.replaceChildren(...Object.keys(DATASETS).filter((d) => status[d]).map((d) => {
    const s = status[d];
    return h("tr", { dataset: { dataset: d, state: stateOf(s) } },
      h("td", {}, h("label", { class: "check" }, h("input", { type: "checkbox", value: d, checked: chosen.has(d), disabled: !WRITER }),
        h("span", { class: "sr" }, t("Choose {dataset}", { dataset: DATASETS[d]() })))),
      h("th", { scope: "row" }, DATASETS[d]()),
      h("td", { dataset: { field: "version" } }, fmtNum(s.version)),
      h("td", { dataset: { field: "acked_version" } }, fmtNum(s.acked_version)),
      h("td", {}, s.last_success ? fmtDate(s.last_success) : "—"),
      h("td", { class: s.last_error ? "err" : "" }, s.last_error || ""),
      h("td", { dataset: { field: "state" } }, STATES[stateOf(s)]()),
      h("td", { dataset: { field: "result" } }, results?.[d] || ""));
  }));
  // what is behind, as of this status (the page-wide list is read less often)
  const note = $("sync-note");
  const behind = member.server_url
    ? Object.keys(DATASETS).filter((d) => status[d] && stateOf(status[d]) !== "in_step") : [];
  note.hidden = !behind.length;
  note.textContent = behind.length
    ? t("This member's data is not in step ({datasets}): it may be missing from federation conferences.", {
      datasets: behind.map((d) => (DATASETS[d] || (() => d))()).join(", ") })
    : "";
  return status;
}

function chosenSets() {
  const chosen = [...syncBody.querySelectorAll("input:checked")].map((el) => el.value);
  return chosen.length ? chosen : null;
}

$("sync-all")?.addEventListener("change", (ev) => {
  syncBody.querySelectorAll("input[type=checkbox]").forEach((el) => { el.checked = ev.target.checked; });
});

function dryText(r) {
  const v = { from: fmtNum(r.from_version), to: fmtNum(r.to_version), upserts: fmtNum(r.upserts), deletes: fmtNum(r.deletes) };
  if (!r.upserts && !r.deletes) return t("nothing to change");
  return r.full
    ? t("everything, {upserts} in all (version {from} → {to})", v)
    : t("{upserts} to add or change, {deletes} to remove (version {from} → {to})", v);
}

async function syncNow(dryRun) {
  const mid = member.id;
  const mine = ++syncing;
  showError(syncError, null);
  const body = { dry_run: dryRun };
  const datasets = chosenSets();
  if (datasets) body.datasets = datasets;
  let res;
  try {
    res = await api("POST", `/members/${mid}/sync`, body);
  } catch (e) {
    showError(syncError, e);
    return;
  }
  const results = {};
  for (const [d, r] of Object.entries(res.datasets)) {
    results[d] = dryRun ? dryText(r) : (OUTCOMES[r.push] || (() => r.push))();
  }
  toast(dryRun ? t("Dry run: nothing was changed.") : t("Sync started."));
  await showSync(results);
  if (dryRun) return;
  // follow the acknowledgements for a while (the member server answers within seconds)
  for (let i = 0; i < 30 && mine === syncing && member?.id === mid && set === "sync"; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    if (mine !== syncing || member?.id !== mid || set !== "sync") return;
    const status = await showSync(results, { background: true }); // not the admin's activity
    if (!status) return;
    const wanted = datasets || Object.keys(status);
    if (wanted.every((d) => !status[d]?.pending && status[d]?.acked_version === status[d]?.version)) break;
  }
  refreshUnsynced();
}

syncForm.addEventListener("submit", (ev) => { ev.preventDefault(); syncNow(false); });
$("sync-dry")?.addEventListener("click", () => syncNow(true));

async function refreshUnsynced() {
  unsynced = await unsyncedMembers();
  const current = treeEl._members;
  if (current) drawTree(current);
  showUnsynced();
}

// -- single sign-on to the member server's own admin interface ------------------------

$("sso")?.addEventListener("click", async () => {
  try {
    const { url } = await api("POST", `/members/${member.id}/sso`);
    // single use, 60 s: opened at once, in a new tab that cannot reach back into this one
    window.open(url, "_blank", "noopener,noreferrer");
  } catch (e) {
    toast(e.message);
  }
});

// -- start ----------------------------------------------------------------------------

(async () => {
  const members = await loadTree();
  const wanted = Number(root.dataset.member) || (members[0] && members[0].id);
  if (!wanted || !byId.has(wanted)) {
    $("data-member").textContent = t("No member in your scope yet.");
    return;
  }
  reveal(treeEl, wanted, (id) => byId.get(id)?.parent_id ?? null);
  drawTree(members);
  choose(wanted);
})().catch((e) => toast(e.message));
