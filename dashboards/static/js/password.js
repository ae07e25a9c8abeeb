// Change your password (forced for the default account and reset ones).
import { api, showError } from "./api.js";
import { t } from "./i18n.js";

const form = document.getElementById("password-form");
const error = document.getElementById("password-error");
const home = document.getElementById("password-script").dataset.home || "/";

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(error, null);
  if (form.new_password.value !== form.new_password2.value) {
    showError(error, new Error(t("The two new passwords differ.")));
    return;
  }
  try {
    await api("POST", "/auth/password", {
      old_password: form.old_password.value,
      new_password: form.new_password.value,
    });
    location.assign(home);
  } catch (e) {
    showError(error, e);
  }
});
