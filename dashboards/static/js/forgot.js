// Ask for a password reset link. The hub answers the same whoever is named (it never
// tells whether an account exists), so this page shows one neutral answer, or how long
// to wait when this address has asked too often.
import { api, showError } from "./api.js";
import { t } from "./i18n.js";

const form = document.getElementById("forgot-form");
const error = document.getElementById("forgot-error");
const done = document.getElementById("forgot-done");

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(error, null);
  done.hidden = true;
  const username = form.username.value.trim();
  if (!username) {
    showError(error, new Error(t("Enter your username.")));
    form.username.focus();
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("POST", "/auth/forgot", { username });
    done.textContent = t("If this account exists and has a mail address, a password reset link has been sent to it. Check your mail.");
    done.hidden = false;
  } catch (e) {
    let msg = e.message;
    if (e.status === 429) {
      const wait = e.headers?.get("retry-after");
      msg = t("Too many password reset requests from this address; try again in {seconds} s.", { seconds: wait || "?" });
    } else if (e.status === 422) {
      msg = t("This is not a valid username.");
    }
    showError(error, new Error(msg));
  } finally {
    button.disabled = false;
  }
});
