// The login form: lockout and throttling answers shown as the server words them.
import { api, setCsrf, showError } from "./api.js";
import { t } from "./i18n.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const lang = document.getElementById("lang");

lang.addEventListener("change", () => {
  document.cookie = `fedhub_lang=${lang.value}; path=/; SameSite=Strict; max-age=31536000`;
  location.reload();
});

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
    // a language chosen on this login page (now or before, in the cookie) is remembered
    // for the admin; otherwise the admin's stored choice stands
    if (document.cookie.split("; ").some((c) => c.startsWith("fedhub_lang="))) {
      await api("PUT", "/preferences", { locale: lang.value }).catch(() => {});
    }
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
