// The audit log (auditor role): filter, page back through time, export CSV.
import { api, h, showError } from "./api.js";
import { fmtDate, t } from "./i18n.js";

const form = document.getElementById("audit-filter");
const body = document.querySelector("#audit tbody");
const more = document.getElementById("audit-more");
const exportLink = document.getElementById("audit-export");
const error = document.getElementById("audit-error");
let next = null;

function query() {
  const q = new URLSearchParams();
  for (const k of ["action", "admin", "result"]) if (form.elements[k].value) q.set(k, form.elements[k].value);
  for (const k of ["since", "until"]) {
    const v = form.elements[k].value;
    if (v) q.set(k, new Date(v).toISOString());
  }
  return q;
}

async function load(append) {
  showError(error, null);
  const q = query();
  exportLink.href = `/api/v1/audit/export?${q}`;
  q.set("limit", "100");
  if (append && next) q.set("before_id", String(next));
  try {
    const res = await api("GET", `/audit?${q}`);
    const rows = res.entries.map((e) => h("tr", { class: `result-${e.result}` },
      h("td", {}, fmtDate(e.at)), h("td", {}, e.admin), h("td", {}, e.source_ip || ""),
      h("td", {}, e.action), h("td", {}, e.target || ""), h("td", {}, t(e.result)), h("td", {}, e.reason || "")));
    append ? body.append(...rows) : body.replaceChildren(...rows);
    next = res.next_before_id ?? null;
    more.hidden = !next;
  } catch (e) {
    showError(error, e);
  }
}

form.addEventListener("submit", (ev) => { ev.preventDefault(); next = null; load(false); });
more.addEventListener("click", () => load(true));
load(false);
