// Your API tokens: make one (its secret shown once), revoke.
import { api, formValues, h, showError, toast } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { fmtDate, t } from "./i18n.js";

const form = document.getElementById("token-form");
const body = document.querySelector("#tokens tbody");

async function load() {
  const { tokens } = await api("GET", "/tokens");
  body.replaceChildren(...tokens.map((tk) => h("tr", { dataset: { token: tk.id } },
    h("td", {}, tk.name), h("td", {}, h("code", {}, tk.prefix || "")), h("td", {}, fmtDate(tk.created_at)),
    h("td", {}, tk.expires_at ? fmtDate(tk.expires_at) : t("never")), h("td", {}, fmtDate(tk.last_used_at)),
    h("td", {}, h("button", { type: "button", class: "small danger", onclick: async () => {
      if (!(await confirmDialog(t("Revoke the token {name}?", { name: tk.name }), { confirmLabel: t("Revoke"), danger: true }))) return;
      try { await api("DELETE", `/tokens/${tk.id}`); await load(); } catch (e) { toast(e.message); }
    } }, t("Revoke"))))));
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = form.querySelector(".error");
  showError(err, null);
  try {
    const res = await api("POST", "/tokens", formValues(form));
    document.getElementById("token-value").textContent = res.token;
    document.getElementById("token-secret").hidden = false;
    form.elements.name.value = "";
    await load();
  } catch (e) {
    showError(err, e);
  }
});

load().catch((e) => toast(e.message));
