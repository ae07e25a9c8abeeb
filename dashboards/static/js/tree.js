// A collapsible member tree (WAI-ARIA tree pattern, keyboard: arrows, Home/End, Enter).
import { h } from "./api.js";
import { t } from "./i18n.js";

/** Open every ancestor of `id` (by `parentOf`) so that it shows after the next render. */
export function reveal(ul, id, parentOf) {
  const open = ul._open || (ul._open = new Set());
  for (let p = parentOf(id); p != null; p = parentOf(p)) open.add(p);
}

/**
 * Render `members` (nested, with `children`) into `ul`. `label(m)` returns the row's
 * content; `onSelect(m)` runs on click or Enter. Expanded state survives re-renders.
 */
export function renderTree(ul, members, { label, onSelect, selected } = {}) {
  const open = ul._open || (ul._open = new Set());
  const seen = ul._seen || (ul._seen = new Set());
  // a re-render (a refresh, a twisty) keeps the keyboard focus where it was: replacing
  // the rows would otherwise drop it on <body> (every 5 s on the topology page)
  const active = ul.contains(document.activeElement) ? document.activeElement : null;
  const focusedId = active?.closest('[role="treeitem"]')?.dataset.member;
  const focusedLink = active?.tagName === "A";
  ul.replaceChildren();
  const add = (parent, m, depth) => {
    const kids = m.children || [];
    if (!seen.has(m.id)) {
      seen.add(m.id);
      if (depth < 2) open.add(m.id); // the top two levels start open
    }
    const expanded = open.has(m.id);
    const li = h("li", {
      role: "treeitem",
      "aria-level": depth + 1,
      "aria-expanded": kids.length ? String(expanded) : null,
      "aria-selected": String(selected === m.id),
      tabindex: selected === m.id || (selected == null && depth === 0) ? "0" : "-1",
      dataset: { member: m.id },
    });
    const toggle = kids.length
      ? h("button", {
          type: "button", class: "twisty", tabindex: "-1",
          "aria-label": expanded ? t("Collapse") : t("Expand"),
          onclick: (ev) => {
            ev.stopPropagation();
            expanded ? open.delete(m.id) : open.add(m.id);
            // the selection may have moved since the last full render: keep the current one
            const current = ul.querySelector('[role="treeitem"][aria-selected="true"]');
            renderTree(ul, members, {
              label, onSelect, selected: current ? Number(current.dataset.member) : selected,
            });
          },
        }, expanded ? "▾" : "▸")
      : h("span", { class: "twisty" });
    const row = h("div", { class: "row" }, toggle, label ? label(m) : m.display_name);
    li.append(row);
    li.addEventListener("click", (ev) => {
      ev.stopPropagation();
      onSelect && onSelect(m);
    });
    parent.append(li);
    if (kids.length && expanded) {
      const sub = h("ul", { role: "group" });
      li.append(sub);
      kids.forEach((c) => add(sub, c, depth + 1));
    }
  };
  members.forEach((m) => add(ul, m, 0));
  const items = [...ul.querySelectorAll('[role="treeitem"]')];
  const back = focusedId != null && ul.querySelector(`[role="treeitem"][data-member="${focusedId}"]`);
  if (back) {
    items.forEach((li) => { li.tabIndex = li === back ? 0 : -1; });
    ((focusedLink && back.querySelector("a")) || back).focus();
  } else if (items.length && !items.some((li) => li.tabIndex === 0)) {
    items[0].tabIndex = 0; // the selected row is hidden in a closed branch: Tab still reaches the tree
  }
  if (!ul._keys) {
    ul._keys = true;
    ul.addEventListener("keydown", (ev) => {
      const items = [...ul.querySelectorAll('[role="treeitem"]')];
      const i = items.indexOf(document.activeElement);
      if (i < 0) return;
      let j = i;
      if (ev.key === "ArrowDown") j = Math.min(items.length - 1, i + 1);
      else if (ev.key === "ArrowUp") j = Math.max(0, i - 1);
      else if (ev.key === "Home") j = 0;
      else if (ev.key === "End") j = items.length - 1;
      else if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        items[i].click();
        return;
      } else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
        const tw = items[i].querySelector(".twisty");
        const isOpen = items[i].getAttribute("aria-expanded") === "true";
        if (tw && tw.tagName === "BUTTON" && isOpen === (ev.key === "ArrowLeft")) {
          const id = items[i].dataset.member;
          tw.click();
          ul.querySelector(`[data-member="${id}"]`)?.focus();
        }
        ev.preventDefault();
        return;
      } else return;
      ev.preventDefault();
      items[i].tabIndex = -1;
      items[j].tabIndex = 0;
      items[j].focus();
    });
  }
}
