// The federation as a tree: each member's link health and joined/total venues, live.
import { api, h } from "./api.js";
import { fmtDate, fmtNum, t } from "./i18n.js";
import { linkStateLabel } from "./linkstate.js";
import { renderTree } from "./tree.js";

const ul = document.getElementById("topology");
// links and live counts are for the admin role: a security admin sees the tree only
// (asking anyway was refused with 403 every few seconds)
const OPERATOR = document.body.dataset.role === "admin";
const updated = document.getElementById("topo-updated");
const POLL_MS = 5000;
// polling is the page refreshing itself, not the admin at work: marked background so
// that a page left open still lets the session idle out
const BG = { background: true };

async function load() {
  const members = (await api("GET", "/members", undefined, BG)).members;
  let links = {}, summary = {};
  if (OPERATOR) {
    try {
      for (const l of (await api("GET", "/links", undefined, BG)).links) links[l.member_id] = l;
      summary = (await api("GET", "/live/summary", undefined, BG)).members || {};
    } catch (e) {
      /* a node without links sees the tree only */
    }
  }
  renderTree(ul, members, {
    label: (m) => {
      const link = links[m.id];
      const counts = summary[m.id] || summary[String(m.id)];
      const state = link ? link.state : "unbound";
      const joined = counts ? (counts.venues?.joined ?? 0) : null;
      return h("span", { class: "node" },
        h("span", { class: `dot ${state}`, role: "img", "aria-label": linkStateLabel(state), title: linkStateLabel(state), dataset: { state } }),
        h("a", { href: `/federation#member-${m.id}` }, m.display_name),
        h("span", { class: "dim" }, ` ${m.domain} · ${t(m.level_name)}`),
        counts ? h("span", { class: "count", title: t("joined / all venues") },
          `${fmtNum(joined)}/${fmtNum(counts.venues_total)}`) : null,
        link && link.last_error && state !== "up" ? h("span", { class: "dim err" }, ` ${link.last_error}`) : null,
      );
    },
    onSelect: (m) => location.assign(`/federation#member-${m.id}`),
  });
  updated.textContent = t("Updated {time}", { time: fmtDate(new Date().toISOString()) });
}

async function loop() {
  try {
    await load();
  } catch (e) {
    updated.textContent = e.message;
  }
  setTimeout(loop, POLL_MS);
}
loop();
