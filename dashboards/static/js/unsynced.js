// Members whose data is not in step with their servers (GET /sync/unsynced): such a
// member may be missing from federation conferences, since the others do not know its
// numbers or domain yet. The data page and the conference page point them out.
import { api, h } from "./api.js";
import { t } from "./i18n.js";

/** Member id → {display_name, datasets}; empty when sync runs on another node. */
export async function unsyncedMembers() {
  try {
    const { members } = await api("GET", "/sync/unsynced", undefined, { background: true });
    return new Map(members.map((m) => [m.member_id, m]));
  } catch (e) {
    return new Map();
  }
}

/**
 * Fill the note `el` with links to each member's sync status (hidden when none);
 * `onOpen(id)`, if given, handles a click in place instead of following the link.
 */
export function showUnsyncedNote(el, members, { onOpen } = {}) {
  const list = [...members.values()];
  el.hidden = !list.length;
  if (!list.length) { el.replaceChildren(); return; }
  el.replaceChildren(
    t("Data of these members is not in step with their servers; they may be missing from federation conferences:"),
    " ",
    ...list.flatMap((m, i) => [i ? ", " : "", h("a", {
      href: `/data/${m.member_id}?set=sync`,
      dataset: { member: m.member_id },
      onclick: onOpen ? (ev) => { ev.preventDefault(); onOpen(m.member_id); } : null,
    }, m.display_name)]),
  );
}
