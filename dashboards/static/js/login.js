// The login form: lockout and throttling answers shown as the server words them.
import { api, setCsrf, showError } from "./api.js";
import { t } from "./i18n.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const lang = document.getElementById("lang");

// A language chosen here, by hand, in this tab (the page reloads in it, so the choice
// is remembered for the reload in sessionStorage). Only such a choice is stored for the
// admin who then logs in: the cookie alone may be the previous admin's on a shared
// machine, and must not overwrite the next admin's stored preference.
const CHOSEN = "fedhub_lang_chosen";

lang.addEventListener("change", () => {
  document.cookie = `fedhub_lang=${lang.value}; path=/; SameSite=Strict; max-age=31536000`;
  try { sessionStorage.setItem(CHOSEN, lang.value); } catch (e) { /* storage off: not stored */ }
  location.reload();
});

function chosenHere() {
  try { return sessionStorage.getItem(CHOSEN); } catch (e) { return null; }
}

/** `next` as a path of this hub, or "/" if it would leave it (the server checks it too). */
function sameOrigin(next) {
  try {
    const u = new URL(next || "/", location.origin);
    if (u.origin === location.origin) return u.pathname + u.search + u.hash;
  } catch (e) { /* not a URL at all */ }
  return "/";
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(error, null);
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError(error, new Error(t("Enter your username and password.")));
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const res = await api("POST", "/auth/login", { username, password });
    setCsrf(res.csrf_token);
    // a language chosen by hand on this login page is remembered for the admin;
    // otherwise the admin's stored choice stands (and the page shows it)
    const chosen = chosenHere();
    if (chosen && chosen === lang.value) {
      await api("PUT", "/preferences", { locale: chosen }).catch(() => {});
    }
    try { sessionStorage.removeItem(CHOSEN); } catch (e) { /* nothing stored */ }
    if (res.password_change_required) {
      location.assign("/password");
    } else {
      location.assign(sameOrigin(form.dataset.next));
    }
  } catch (e) {
    let msg = e.message;
    if (e.status === 401) msg = t("Wrong username or password.");
    else if (e.status === 423) msg = t("This account is locked after too many failed logins; try again later or ask a security admin.");
    else if (e.status === 429) {
      const wait = e.headers?.get("retry-after");
      msg = t("Too many failed logins from this address; try again in {seconds} s.", { seconds: wait || "?" });
    } else if (e.status === 403) msg = t("This account is disabled.");
    showError(error, new Error(msg));
    form.password.value = "";
    form.password.focus();
  } finally {
    button.disabled = false;
  }
});
