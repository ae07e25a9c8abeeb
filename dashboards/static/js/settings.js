// Settings: the SIP redirect service today (other sections join the same page).
import { api, formValues, showError, toast } from "./api.js";
import { t } from "./i18n.js";

const form = document.getElementById("redirect-form");
const status = document.getElementById("redirect-status");

function fill(settings) {
  for (const [k, v] of Object.entries(settings)) {
    const el = form.elements[k];
    if (!el) continue;
    if (el.type === "checkbox") el.checked = !!v;
    else el.value = v ?? "";
  }
}

async function load() {
  const res = await api("GET", "/settings/redirect");
  fill(res.settings);
  status.textContent = res.node ? JSON.stringify(res.node, null, 2) : t("This node does not run the redirect service.");
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = form.querySelector(".error");
  showError(err, null);
  const values = formValues(form);
  for (const k of ["udp_port", "tcp_port", "tls_port"]) if (!(k in values)) values[k] = null;
  try {
    const res = await api("PATCH", "/settings/redirect", values);
    fill(res.settings);
    toast(t("Saved; applied without restart."));
    await load();
  } catch (e) {
    showError(err, e);
  }
});

load().catch((e) => toast(e.message));
