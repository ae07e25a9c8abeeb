// Change your password (forced for the default account and reset ones).
import { api, showError, toast } from "./api.js";
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

// Where reset links go decides who can reset the password: changing it asks for the
// password (wrong ones count like failed logins).
const emailForm = document.getElementById("email-form");
if (emailForm) {
  const emailError = document.getElementById("email-error");
  api("GET", "/auth/email")
    .then((res) => { if (!emailForm.email.value) emailForm.email.value = res.email || ""; })
    .catch((e) => showError(emailError, e))
    .finally(() => { emailForm.dataset.state = "ready"; });
  emailForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError(emailError, null);
    try {
      await api("PUT", "/auth/email", { email: emailForm.email.value.trim() || null, password: emailForm.password.value });
      emailForm.password.value = "";
      toast(t("Saved."));
    } catch (e) {
      showError(emailError, e);
    }
  });
}
