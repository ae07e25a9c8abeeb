// Admin accounts (security role): create, disable / enable, unlock, reset, delete.
import { api, formValues, h, showError, toast } from "./api.js";
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
      a.locked_until ? h("button", { type: "button", class: "small", onclick: () => act(() => api("PATCH", `/admins/${a.id}`, { unlock: true })) }, t("Unlock")) : null,
      h("button", { type: "button", class: "small", onclick: () => {
        const pw = prompt(t("New password for {name} (they must change it at next login):", { name: a.username }));
        if (pw) act(() => api("PATCH", `/admins/${a.id}`, { password: pw }));
      } }, t("Reset password")),
      h("button", { type: "button", class: "small danger", onclick: () => {
        if (confirm(t("Delete the account {name}?", { name: a.username }))) act(() => api("DELETE", `/admins/${a.id}`));
      } }, t("Delete"))))));
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
