// What every signed-in page has: log out, and the language chooser (remembered per admin).
import { api, toast } from "./api.js";

document.getElementById("fh-logout")?.addEventListener("click", async () => {
  try {
    await api("POST", "/auth/logout");
  } catch (e) {
    // 401: already logged out. Anything else and the session may still be alive: say so
    // instead of going to "/", which would send a live session straight back in.
    if (e.status !== 401) {
      toast(e.message);
      return;
    }
  }
  location.assign("/");
});

const lang = document.getElementById("fh-lang");
lang?.addEventListener("change", async () => {
  try {
    await api("PUT", "/preferences", { locale: lang.value });
    document.cookie = `fedhub_lang=${lang.value}; path=/; SameSite=Strict; max-age=31536000`;
    location.reload();
  } catch (e) {
    toast(e.message);
  }
});
