// Set a new password with the token of a reset link (`/reset-password#token=…`). The
// token travels in the fragment, so it never reaches a server log or a Referer; the
// page takes it out of the address bar at once and keeps it in memory only.
import { api, showError } from "./api.js";
import { t } from "./i18n.js";

const form = document.getElementById("reset-form");
const error = document.getElementById("reset-error");
const missing = document.getElementById("reset-missing");
const done = document.getElementById("reset-done");

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
if (location.hash) history.replaceState(null, "", location.pathname);
if (!token) {
  missing.hidden = false;
  form.hidden = true;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(error, null);
  const password = form.new_password.value;
  if (!password) {
    showError(error, new Error(t("Enter the new password twice.")));
    return;
  }
  if (password !== form.new_password2.value) {
    showError(error, new Error(t("The two new passwords differ.")));
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("POST", "/auth/reset", { token, new_password: password });
    form.hidden = true;
    done.hidden = false;
    document.getElementById("to-login").focus();
  } catch (e) {
    let msg = e.message;
    if (e.code === "invalid_token") {
      msg = t("This reset link is unknown, already used or expired; ask for a new one.");
      form.hidden = true;
      missing.hidden = true;
    } else if (e.code === "weak_password") {
      msg = t("The new password does not meet the rules: {reasons}.", { reasons: (e.details.reasons || []).map((r) => t(r)).join("; ") });
    } else if (e.status === 429) {
      const wait = e.headers?.get("retry-after");
      msg = t("Too many attempts from this address; try again in {seconds} s.", { seconds: wait || "?" });
    }
    showError(error, new Error(msg));
    button.disabled = false;
  }
});
