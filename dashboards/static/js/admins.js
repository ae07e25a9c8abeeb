// Admin accounts (security role): create, disable / enable, unlock, reset, delete.
import { api, formValues, h, showError, toast } from "./api.js";
import { confirmDialog, copyValue, openDialog } from "./dialog.js";
import { fmtDate, t } from "./i18n.js";

const form = document.getElementById("admin-form");
const body = document.querySelector("#admins tbody");
const ROLE = { admin: () => t("Administrator"), security: () => t("Security admin"), auditor: () => t("Auditor") };

async function act(fn) {
  try { await fn(); await load(); } catch (e) { toast(e.message); }
}

function state(a) {
  if (a.disabled) return t("disabled");
  if (a.locked_until && new Date(a.locked_until) > new Date()) return t("locked until {time}", { time: fmtDate(a.locked_until) });
  if (a.pending_approval) return t("waiting for a second security admin's approval");
  if (a.password_change_required) return t("must change password");
  return t("active");
}

async function load() {
  const { admins } = await api("GET", "/admins");
  body.replaceChildren(...admins.map((a) => h("tr", { dataset: { admin: a.id } },
    h("td", {}, a.username), h("td", {}, (ROLE[a.role] || (() => a.role))()),
    h("td", {}, a.member_id ?? t("whole federation")), h("td", {}, state(a)),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "small", onclick: () => act(() => api("PATCH", `/admins/${a.id}`, { disabled: !a.disabled })) },
        a.disabled ? t("Enable") : t("Disable")),
      a.pending_approval ? h("button", { type: "button", class: "small", onclick: () => act(() => api("PATCH", `/admins/${a.id}`, { approve: true })) }, t("Approve")) : null,
      a.locked_until ? h("button", { type: "button", class: "small", onclick: () => act(() => api("PATCH", `/admins/${a.id}`, { unlock: true })) }, t("Unlock")) : null,
      h("button", { type: "button", class: "small", "data-action": "reset", onclick: () => resetPassword(a) }, t("Reset password")),
      h("button", { type: "button", class: "small danger", "data-action": "delete", onclick: async () => {
        const ok = await confirmDialog(t("Delete the account {name}?", { name: a.username }), { confirmLabel: t("Delete"), danger: true });
        if (ok) act(() => api("DELETE", `/admins/${a.id}`));
      } }, t("Delete"))))));
}

const LOWER = "abcdefghijkmnpqrstuvwxyz", UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ", DIGITS = "23456789", OTHER = "-_.!@#%+=";

/** 16 random characters with every class present (meets the password rules). */
function generatePassword() {
  const pick = (set, n) => [...crypto.getRandomValues(new Uint32Array(n))].map((x) => set[x % set.length]);
  const chars = [...pick(LOWER, 6), ...pick(UPPER, 4), ...pick(DIGITS, 3), ...pick(OTHER, 3)];
  const order = crypto.getRandomValues(new Uint32Array(chars.length));
  return chars.map((c, i) => [order[i], c]).sort((x, y) => x[0] - y[0]).map((p) => p[1]).join("");
}

/** Reset an admin's password in a dialog: generated (shown once, with a copy button) or
 * typed twice. The new password is never put in a URL, a log, or a browser prompt. */
function resetPassword(a) {
  return openDialog(t("Reset the password of {name}", { name: a.username }), (close, dialog) => {
    const error = h("p", { class: "error", role: "alert", hidden: true });
    const typed = h("div", { hidden: true },
      h("label", {}, t("New password"),
        h("input", { name: "new_password", type: "password", autocomplete: "new-password", maxlength: 256 })),
      h("label", {}, t("New password again"),
        h("input", { name: "new_password2", type: "password", autocomplete: "new-password", maxlength: 256 })),
      h("p", { class: "hint" }, t("At least 8 characters, three of: lower case, upper case, digits, other; not your username.")));
    const choice = (value, label, checked) => h("label", { class: "check" },
      h("input", { type: "radio", name: "how", value, checked, onchange: () => { typed.hidden = value !== "type"; } }), ` ${label}`);
    const form = h("form", { novalidate: true },
      h("p", { class: "hint" }, t("Their sessions and API tokens end now; another security admin must approve the new password, and they must change it at their next login.")),
      h("fieldset", { class: "choice" }, h("legend", {}, t("New password")),
        choice("generate", t("Generate one (shown once)"), true), choice("type", t("Type one"), false)),
      typed, error,
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary" }, t("Reset password")),
        h("button", { type: "button", onclick: () => close(false) }, t("Cancel"))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError(error, null);
      let password;
      if (form.elements.how.value === "type") {
        password = form.elements.new_password.value;
        if (!password) { showError(error, new Error(t("Enter the new password twice."))); return; }
        if (password !== form.elements.new_password2.value) {
          showError(error, new Error(t("The two new passwords differ."))); return;
        }
      } else {
        password = generatePassword();
      }
      const submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      try {
        await api("PATCH", `/admins/${a.id}`, { password });
      } catch (e) {
        showError(error, e);
        submit.disabled = false;
        return;
      }
      load().catch((e) => toast(e.message));
      if (form.elements.how.value === "type") { toast(t("Password reset.")); close(true); return; }
      const shown = h("input", { id: "generated-password", readonly: true, value: password, spellcheck: "false", autocomplete: "off" });
      const done = h("div", {},
        h("p", { role: "status" }, t("The new password of {name}; it is shown only now:", { name: a.username })),
        h("div", { class: "secret-row" },
          h("label", { class: "sr", for: "generated-password" }, t("Generated password")), shown,
          h("button", { type: "button", "data-role": "copy", onclick: async () => {
            toast(await copyValue(shown) ? t("Copied.") : t("Select the password and copy it."));
          } }, t("Copy"))),
        h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => close(true) }, t("Done"))));
      form.replaceWith(done);
      shown.focus();
      shown.select();
    });
    return form;
  });
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = form.querySelector(".error");
  showError(err, null);
  const v = formValues(form);
  try {
    await api("POST", "/admins", { ...v, member_id: v.member_id ?? null });
    form.reset();
    toast(t("Admin created."));
    await load();
  } catch (e) {
    showError(err, e);
  }
});

load().catch((e) => toast(e.message));
