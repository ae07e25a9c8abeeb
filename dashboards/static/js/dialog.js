// Modal dialogs of the pages: native <dialog> (focus kept inside, Esc closes, focus
// returns to what opened it), labelled by their heading. No window.prompt/alert/
// confirm anywhere: those show secrets in clear, cannot be styled or translated well
// and block the page.
import { h } from "./api.js";
import { t } from "./i18n.js";

let serial = 0;

/**
 * Open a modal dialog titled `title` holding `children`; resolves to the value passed
 * to `close(value)` (undefined when dismissed with Esc). `build(close)` returns the
 * content so that its buttons can close it.
 */
export function openDialog(title, build, { className = "" } = {}) {
  const id = `fh-dialog-${++serial}`;
  const opener = document.activeElement;
  const dialog = h("dialog", { class: `fh-dialog ${className}`.trim(), "aria-labelledby": `${id}-title` });
  return new Promise((resolve) => {
    let value;
    const close = (v) => { value = v; dialog.close(); };
    dialog.append(h("h2", { id: `${id}-title` }, title), ...[build(close, dialog)].flat());
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected && typeof opener.focus === "function") opener.focus();
      resolve(value);
    });
    document.body.append(dialog);
    dialog.showModal();
    // the element marked autofocus wins (Cancel, for a question), else the first field
    const first = dialog.querySelector("[autofocus]") ?? dialog.querySelector("input, select, textarea, button");
    first?.focus();
  });
}

/** Ask a yes/no question; resolves to true only if the admin confirms. */
export function confirmDialog(question, { confirmLabel = t("Confirm"), danger = false } = {}) {
  return openDialog(t("Please confirm"), (close) => [
    h("p", {}, question),
    h("div", { class: "actions" },
      h("button", { type: "button", class: danger ? "danger" : "primary", "data-role": "confirm", onclick: () => close(true) }, confirmLabel),
      h("button", { type: "button", "data-role": "cancel", autofocus: true, onclick: () => close(false) }, t("Cancel"))),
  ]).then((v) => v === true);
}

/** Copy `input`'s value to the clipboard (falls back to selecting it for Ctrl+C). */
export async function copyValue(input) {
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch (e) {
    // no Clipboard API (plain-HTTP intranet address) or no permission: the old way
    try { return document.execCommand("copy"); } catch (e2) { return false; }
  }
}
