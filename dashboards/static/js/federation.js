// Federation admin: the member tree, a member's details, add / edit / delete, its number
// ranges (conflicts shown inline, as the server names them), binding its server.
import { api, formValues, h, showError, toast } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { fmtNum, t } from "./i18n.js";
import { linkStateLabel } from "./linkstate.js";
import { renderTree, reveal } from "./tree.js";

const treeEl = document.getElementById("member-tree");
const detail = document.getElementById("member-detail");
const canWrite = !!document.getElementById("add-root");
const OPERATOR = document.body.dataset.role === "admin"; // only the admin role may read links
const TYPE_LABEL = {
  system_account: () => t("System accounts"), general_meeting: () => t("General meetings"),
  instant_meeting: () => t("Instant meetings"), scheduled_meeting: () => t("Scheduled meetings"),
  vmr: () => t("Virtual meeting rooms"),
};
/** What an optional field emptied in the edit form means to the API. */
const CLEARED = { remark: "", sip_host: null, sip_port: null };
let byId = new Map();
let selected = null;
let links = {};

function index(members) {
  byId = new Map();
  const walk = (m) => { byId.set(m.id, m); (m.children || []).forEach(walk); };
  members.forEach(walk);
}

async function loadTree() {
  const { members } = await api("GET", "/members");
  index(members);
  links = {};
  if (OPERATOR) {
    try {
      for (const l of (await api("GET", "/links")).links) links[l.member_id] = l;
    } catch (e) { /* no links on this node */ }
  }
  const addRoot = document.getElementById("add-root");
  if (addRoot) addRoot.hidden = members.length > 0;
  renderTree(treeEl, members, {
    selected,
    label: (m) => h("span", { class: "node" },
      h("span", { class: `dot ${links[m.id]?.state || "unbound"}`, role: "img",
        "aria-label": linkStateLabel(links[m.id]?.state), title: linkStateLabel(links[m.id]?.state),
        dataset: { state: links[m.id]?.state || "unbound" } }),
      m.display_name, h("span", { class: "dim" }, ` ${m.domain}`)),
    onSelect: (m) => select(m.id),
  });
  return members;
}

function field(label, value) {
  return [h("dt", {}, label), h("dd", {}, value ?? "—")];
}

function cloneForm(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

function memberForm(title, initial, submit) {
  const form = cloneForm("member-form-tpl");
  form.querySelector('[data-role="title"]').textContent = title;
  for (const [k, v] of Object.entries(initial || {})) {
    if (form.elements[k] && v !== null && v !== undefined) form.elements[k].value = v;
  }
  if (initial) form.elements.password.removeAttribute("required");
  else form.elements.password.required = true;
  form.querySelector('[data-role="cancel"]').addEventListener("click", () => selected ? select(selected) : detail.replaceChildren());
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = form.querySelector(".error");
    showError(err, null);
    try {
      await submit(formValues(form));
    } catch (e) {
      showError(err, e);
    }
  });
  return form;
}

let showing = 0; // which select() call owns the detail pane (a later click wins)

async function select(id) {
  selected = id;
  const mine = ++showing;
  const m = byId.get(id);
  if (!m) { detail.replaceChildren(h("p", { class: "hint" }, t("Choose a member in the tree."))); return; }
  history.replaceState(null, "", `#member-${id}`);
  const link = links[id];
  const head = h("div", { class: "detail-head" },
    h("h2", {}, m.display_name),
    h("a", { href: `/data/${m.id}` }, t("Its data and sync")), // pagesdata
    canWrite ? h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => edit(m) }, t("Edit")),
      m.level < 5 ? h("button", { type: "button", onclick: () => addChild(m) }, t("Add a member below")) : null,
      h("button", { type: "button", class: "danger", onclick: () => remove(m) }, t("Delete"))) : null);
  const dl = h("dl", { class: "facts" },
    field(t("Domain"), m.domain), field(t("Level"), t(m.level_name)),
    field(t("Member server username"), m.username), field(t("Server URL"), m.server_url),
    field(t("SIP address"), m.sip_host ? `${m.sip_host}:${m.sip_port || 5060}` : null),
    field(t("Link"), `${linkStateLabel(link?.state)}${link?.last_error ? " — " + link.last_error : ""}`),
    field(t("Remark"), m.remark));
  const ranges = h("section", { class: "ranges" }, h("h3", {}, t("Number ranges")));
  detail.replaceChildren(head, dl, ranges);
  // mark the choice at once, with the heading (not after its ranges have loaded)
  treeEl.querySelectorAll('[role="treeitem"]').forEach((li) => {
    li.setAttribute("aria-selected", String(Number(li.dataset.member) === id));
  });
  await showRanges(m, ranges);
  // another member was chosen while this one's ranges loaded: its pane is not ours (the
  // bind form appended here would have bound this member from the other one's details)
  if (mine !== showing) return;
  if (canWrite && !m.server_url) detail.append(bindForm(m));
}

async function showRanges(m, box) {
  const table = h("table", { class: "list" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("Type")), h("th", { scope: "col" }, t("Start")),
      h("th", { scope: "col" }, t("End")), h("th", { scope: "col" }, t("Size")), h("th", { scope: "col" }, t("Remark")),
      canWrite ? h("th", { scope: "col" }, t("Actions")) : null)));
  const body = h("tbody");
  table.append(body);
  box.append(table);
  const { ranges } = await api("GET", `/members/${m.id}/ranges`);
  if (!ranges.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "dim" }, t("No ranges yet."))));
  for (const r of ranges) {
    body.append(h("tr", { dataset: { range: r.id } },
      h("td", {}, (TYPE_LABEL[r.type] || (() => r.type))()), h("td", {}, r.start), h("td", {}, r.end),
      h("td", {}, fmtNum(Number(BigInt(r.end) - BigInt(r.start) + 1n))), h("td", {}, r.remark || ""),
      canWrite ? h("td", {}, h("button", { type: "button", class: "small danger", onclick: async () => {
        const ok = await confirmDialog(t("Delete the range {start}–{end}?", { start: r.start, end: r.end }), { confirmLabel: t("Delete"), danger: true });
        if (!ok) return;
        try { await api("DELETE", `/members/${m.id}/ranges/${r.id}`); select(m.id); } catch (e) { toast(e.message); }
      } }, t("Delete"))) : null));
  }
  if (canWrite) {
    const form = cloneForm("range-form-tpl");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const err = form.querySelector(".error");
      showError(err, null);
      try {
        await api("POST", `/members/${m.id}/ranges`, formValues(form));
        toast(t("Range added."));
        select(m.id);
      } catch (e) {
        showError(err, e);
      }
    });
    box.append(form);
  }
}

function bindForm(m) {
  const form = cloneForm("bind-form-tpl");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = form.querySelector(".error");
    showError(err, null);
    if (!form.elements.confirm_wipe.checked) {
      showError(err, new Error(t("Confirm that binding wipes the member server's accounts.")));
      return;
    }
    try {
      await api("POST", `/members/${m.id}/bind`, {
        server_url: form.elements.server_url.value,
        confirm_wipe: true,
      });
      toast(t("Member server bound."));
      await loadTree();
      select(m.id);
    } catch (e) {
      showError(err, e);
    }
  });
  return form;
}

function edit(m) {
  detail.replaceChildren(memberForm(t("Edit {name}", { name: m.display_name }), m, async (values) => {
    const changes = {};
    for (const k of ["domain", "display_name", "username", "remark", "sip_host", "sip_port", "password"]) {
      if (k in values) {
        if (values[k] !== m[k]) changes[k] = values[k];
      } else if (k in CLEARED && m[k] !== CLEARED[k] && m[k] !== undefined) {
        changes[k] = CLEARED[k]; // an emptied field clears it (it was left out and kept)
      }
    }
    if (Object.keys(changes).length) await api("PATCH", `/members/${m.id}`, changes);
    toast(t("Saved."));
    await loadTree();
    select(m.id);
  }));
}

function addChild(parent) {
  const title = parent ? t("Add a member below {name}", { name: parent.display_name }) : t("Add the province");
  detail.replaceChildren(memberForm(title, null, async (values) => {
    const created = await api("POST", "/members", { parent_id: parent ? parent.id : null, ...values });
    toast(t("Member added."));
    reveal(treeEl, created.id, (id) => (id === created.id ? created.parent_id : byId.get(id)?.parent_id));
    await loadTree();
    select(created.id);
  }));
  detail.querySelector("input")?.focus();
}

async function remove(m) {
  const hasKids = (m.children || []).length > 0;
  const question = hasKids
    ? t("Delete {name} and everything below it, with their ranges?", { name: m.display_name })
    : t("Delete {name}?", { name: m.display_name });
  if (!(await confirmDialog(question, { confirmLabel: t("Delete"), danger: true }))) return;
  try {
    await api("DELETE", `/members/${m.id}${hasKids ? "?cascade=true" : ""}`);
    toast(t("Deleted."));
    selected = m.parent_id;
    await loadTree();
    selected ? select(selected) : detail.replaceChildren();
  } catch (e) {
    toast(e.message);
  }
}

document.getElementById("add-root")?.addEventListener("click", () => addChild(null));

(async () => {
  const members = await loadTree();
  const wanted = Number((location.hash.match(/member-(\d+)/) || [])[1]);
  if (wanted && byId.has(wanted)) select(wanted);
  else if (members.length) select(members[0].id);
})().catch((e) => toast(e.message));
