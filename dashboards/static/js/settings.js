// Settings: one form per section of the settings API, each loaded and saved the same
// way (GET fills it, the save sends what the form holds and refills it from the answer,
// errors shown in the section as the server words them). A section this process does
// not offer, or the caller may not change, says so in its own error line.
import { api, apiResponse, formValues, h, showError, toast } from "./api.js";
import { confirmDialog, openDialog } from "./dialog.js";
import { fmtDate, fmtNum, t } from "./i18n.js";

const MIB = 1024 * 1024;

function fill(form, values) {
  for (const [k, v] of Object.entries(values || {})) {
    const el = form.elements[k];
    if (!el || el.type === "password") continue; // secrets are never shown
    if (el.type === "checkbox") el.checked = !!v;
    else el.value = v ?? "";
  }
}

/**
 * A settings section: `get` answers the values (`pick(res)` takes them out of the
 * answer), the form saves them with `method`; `out(values, form)` shapes what is sent
 * and `after(res)` shows what the answer says beyond the values.
 */
function section(id, { path, method = "PATCH", pick = (res) => res.settings, out = (v) => v, after = () => {}, saved = t("Saved.") }) {
  const form = document.getElementById(`${id}-form`);
  if (!form) return null;
  const err = form.querySelector(".error");
  const show = (res) => { fill(form, pick(res)); after(res, form); };
  async function load() {
    try {
      show(await api("GET", path));
    } catch (e) {
      showError(err, e);
      for (const el of form.elements) if (el.type === "submit") el.disabled = true;
    }
    form.dataset.state = "ready"; // filled from the hub (what is typed now stays)
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError(err, null);
    const button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    try {
      show(await api(method, path, out(formValues(form), form)));
      for (const el of form.elements) if (el.type === "password") el.value = ""; // stored, gone
      toast(saved);
    } catch (e) {
      showError(err, e);
    } finally {
      if (button) button.disabled = false;
    }
  });
  return load();
}

// --- SIP redirect service ---------------------------------------------------------
const redirectStatus = document.getElementById("redirect-status");
section("redirect", {
  path: "/settings/redirect",
  out: (v) => {
    for (const k of ["udp_port", "tcp_port", "tls_port"]) if (!(k in v)) v[k] = null;
    return v;
  },
  after: (res) => {
    if (redirectStatus) {
      redirectStatus.textContent = res.node ? JSON.stringify(res.node, null, 2) : t("This node does not run the redirect service.");
    }
  },
  saved: t("Saved; applied without restart."),
});

// --- mail -----------------------------------------------------------------------
const passwordState = document.getElementById("mail-password-state");
section("mail", {
  path: "/settings/mail",
  pick: (res) => res.settings || { security: "starttls", verify_certificate: true, timeout: 15 },
  out: (v, form) => {
    // an empty password field keeps the stored one; the sender may be cleared
    if (!("sender" in v)) v.sender = "";
    if (!("username" in v)) v.username = "";
    return v;
  },
  after: (res) => {
    if (!passwordState) return;
    const set = res.settings?.password_set;
    passwordState.textContent = set
      ? t("A password is stored; leave the field empty to keep it.")
      : t("No password is stored.");
  },
});

const testForm = document.getElementById("mail-test-form");
testForm?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = testForm.querySelector(".error");
  const result = document.getElementById("mail-test-result");
  showError(err, null);
  result.hidden = true;
  const to = testForm.elements.to.value.trim();
  if (!to) { showError(err, new Error(t("Enter the address to send the test mail to."))); return; }
  const button = testForm.querySelector("button[type=submit]");
  button.disabled = true;
  result.textContent = t("Sending…");
  result.className = "hint";
  result.hidden = false;
  try {
    const res = await api("POST", "/settings/mail/test", { to });
    if (res.result === "ok") {
      result.textContent = t("Test succeeded: the SMTP server accepted the mail.");
      result.className = "result-ok";
    } else {
      // the exact failure, as the SMTP side reported it (which step, what it said)
      result.hidden = true;
      showError(err, new Error(t("Test failed ({code}): {message}", { code: res.code || "failed", message: res.message })));
    }
  } catch (e) {
    result.hidden = true;
    showError(err, e);
  } finally {
    button.disabled = false;
  }
});

// --- disk quotas -------------------------------------------------------------------
function usageLine(id, used, quota) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = t("{what}: {used} MiB used of {quota} MiB", {
    what: id === "logs-usage" ? t("Logs") : t("Backups"),
    used: fmtNum(Math.round((used / MIB) * 10) / 10),
    quota: fmtNum(Math.round(quota / MIB)),
  });
}
section("quotas", {
  path: "/settings/quotas",
  after: (res) => {
    const u = res.usage || {};
    usageLine("logs-usage", u.logs_bytes || 0, u.logs_quota_bytes || 0);
    usageLine("backups-usage", u.backups_bytes || 0, u.backups_quota_bytes || 0);
    const audit = document.getElementById("audit-usage");
    if (audit && typeof u.audit_rows === "number") audit.textContent = t("Audit log: {n} records", { n: fmtNum(u.audit_rows) });
  },
});

// --- backups -------------------------------------------------------------------------
section("schedule", { path: "/settings/backups" });

const backupBody = document.querySelector("#backup-list tbody");
const backupForm = document.getElementById("backup-form");
const progress = document.getElementById("backup-progress");
const KIND = { manual: () => t("manual"), scheduled: () => t("scheduled"), "pre-restore": () => t("before a restore") };

function fmtSize(bytes) {
  if (bytes >= MIB) return t("{n} MiB", { n: fmtNum(Math.round((bytes / MIB) * 10) / 10) });
  return t("{n} KiB", { n: fmtNum(Math.max(1, Math.round(bytes / 1024))) });
}

async function loadBackups() {
  if (!backupBody) return;
  const { backups } = await api("GET", "/backups");
  if (!backups.length) {
    backupBody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "dim" }, t("No backups yet."))));
    return;
  }
  backupBody.replaceChildren(...backups.map((b) => h("tr", { dataset: { backup: b.id } },
    h("td", {}, b.name || b.id, b.error ? h("span", { class: "error" }, ` ${b.error}`) : null),
    h("td", {}, (KIND[b.kind] || (() => b.kind || ""))()),
    h("td", {}, fmtDate(b.created_at)),
    h("td", {}, fmtSize(b.size || 0)),
    h("td", {}, b.encrypted ? t("yes") : t("no")),
    h("td", { class: "actions" },
      h("a", { class: "button small", href: `/api/v1/backups/${encodeURIComponent(b.id)}`, download: "", "data-action": "download" }, t("Download")),
      " ",
      h("button", { type: "button", class: "small", "data-action": "restore", onclick: () => restoreDialog(b) }, t("Restore")),
      " ",
      h("button", { type: "button", class: "small danger", "data-action": "delete", onclick: async () => {
        if (!(await confirmDialog(t("Delete the backup {name}?", { name: b.name || b.id }), { confirmLabel: t("Delete"), danger: true }))) return;
        try {
          await api("DELETE", `/backups/${encodeURIComponent(b.id)}`);
          toast(t("Backup deleted."));
          await loadBackups();
        } catch (e) { toast(e.message); }
      } }, t("Delete"))))));
}

const DONE = new Set(["done", "ok", "succeeded", "success", "finished", "completed"]);
const FAILED = new Set(["failed", "error", "cancelled", "canceled"]);
const WAIT_S = 20; // each poll asks the hub to answer once the job ends or after this
const POLL_LIMIT = 180; // an hour of following at most

/** Where a 202 answer says its job can be followed (a path under /api/v1), or null. */
function jobPath(data, headers) {
  const job = (data && (data.job || data)) || {};
  const raw = headers?.get("location") || data?.location || data?.status_url || job.location
    || (job.id ? `/backups/jobs/${encodeURIComponent(job.id)}` : null);
  if (!raw) return null;
  const path = new URL(raw, location.origin).pathname;
  return path.startsWith("/api/v1/") ? path.slice("/api/v1".length) : path;
}

function jobError(job) {
  const e = job.error;
  const text = (e && typeof e === "object") ? e.message || e.code : e;
  return new Error(text || job.message || t("The backup failed."));
}

/** Follow a background job until it ends (long polls, marked as the page's own so they
 * do not keep the session alive); resolves to the job or throws its error. */
async function followJob(path, first) {
  let job = first || {};
  for (let i = 0; i < POLL_LIMIT; i++) {
    const state = String(job.state || job.status || "").toLowerCase();
    if (DONE.has(state)) return job;
    if (FAILED.has(state)) throw jobError(job);
    // a hub that answers at once (no ?wait) is asked again a second later, not in a spin
    if (i > 0) await new Promise((r) => setTimeout(r, 1000));
    const res = await api("GET", `${path}?wait=${WAIT_S}`, undefined, { background: true });
    job = res.job || res;
  }
  throw new Error(t("The backup is still running; the list shows it once it is done."));
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** Wait until this node answers again after restarting: its jobs live in its memory,
 * so the restore's job is unknown (404) to the new process — or the session ended
 * with the data it came from (401). Connection errors and 502/503 mean "not yet". */
async function restarted(jobPathname) {
  for (let i = 0; i < 600; i++) {
    try {
      await apiResponse("GET", jobPathname, undefined, { background: true });
    } catch (e) {
      if (e.status === 401 || e.status === 404) return; // 0, 502, 503: not yet
    }
    await pause(1000);
  }
  throw new Error(t("The hub did not come back within ten minutes; look at its log."));
}

/** Restore a backup: the admin types its name (and its passphrase) to confirm; the hub
 * verifies the archive, backs up the current data, restarts into the backup; the page
 * then goes to the login (the sessions are those of the backup). */
function restoreDialog(b) {
  const name = b.name || b.id;
  return openDialog(t("Restore the backup {name}", { name }), (close, dialog) => {
    const confirm = h("input", { name: "confirm", required: true, autocomplete: "off", spellcheck: "false" });
    const passphrase = b.encrypted
      ? h("input", { name: "passphrase", type: "password", required: true, minlength: 8, maxlength: 1024, autocomplete: "off" })
      : null;
    const status = h("p", { role: "status", class: "hint", hidden: true });
    const err = h("p", { class: "error", role: "alert", hidden: true });
    const go = h("button", { type: "submit", class: "danger", "data-role": "confirm" }, t("Restore"));
    const cancel = h("button", { type: "button", "data-role": "cancel", autofocus: true, onclick: () => close(false) }, t("Cancel"));
    const form = h("form", { novalidate: true },
      h("p", { class: "notice" }, t("A restore replaces every member, account, setting and audit record with those of this backup. The current data is backed up first; the hub then restarts, and everyone signs in again.")),
      h("label", {}, t("Type the backup's name ({name}) to confirm", { name: b.id }), confirm),
      passphrase ? h("label", {}, t("Passphrase of the backup"), passphrase) : null,
      status, err,
      h("div", { class: "actions" }, go, cancel));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError(err, null);
      if (confirm.value.trim() !== b.id) {
        showError(err, new Error(t("Type the backup's name exactly: {name}", { name: b.id })));
        confirm.focus();
        return;
      }
      go.disabled = cancel.disabled = true;
      dialog.setAttribute("aria-busy", "true");
      status.hidden = false;
      status.textContent = t("Verifying the backup…");
      const body = { confirm: b.id };
      if (passphrase) body.passphrase = passphrase.value;
      let path = null;
      try {
        const { data, headers } = await apiResponse("POST", `/backups/${encodeURIComponent(b.id)}/restore`, body);
        path = jobPath(data, headers);
        const job = path ? await followJob(path, data) : data;
        const result = job.result || {};
        if (!result.restarting) { // nobody restarts this node: say what to do
          status.textContent = t("The backup is verified and staged; restart this node to apply it.");
          cancel.disabled = false;
          return;
        }
      } catch (e) {
        if (!(path && e.status === 0)) { // a refusal or a failed verification
          showError(err, e);
          status.hidden = true;
          go.disabled = cancel.disabled = false;
          dialog.removeAttribute("aria-busy");
          return;
        } // else the connection went with the old process: it is restarting
      }
      status.textContent = t("Restoring: the hub restarts into the backup…");
      try {
        await restarted(path);
        location.assign("/");
      } catch (e) {
        showError(err, e);
      }
    });
    return form;
  });
}

backupForm?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = backupForm.querySelector(".error");
  showError(err, null);
  const button = backupForm.querySelector("button[type=submit]");
  button.disabled = true;
  progress.textContent = t("Backup running…");
  progress.hidden = false;
  backupForm.setAttribute("aria-busy", "true");
  try {
    // 201: made before the answer; 202: made in the background, followed by its job
    const { status, data, headers } = await apiResponse("POST", "/backups", formValues(backupForm));
    if (status === 202) {
      const path = jobPath(data, headers);
      if (path) await followJob(path, data);
    }
    backupForm.reset();
    toast(t("Backup made."));
    await loadBackups();
  } catch (e) {
    showError(err, e);
  } finally {
    progress.hidden = true;
    backupForm.removeAttribute("aria-busy");
    button.disabled = false;
  }
});

// --- sync, numbering, access URLs, live, logs ----------------------------------------
section("sync", { path: "/settings/sync", method: "PUT", pick: (res) => ({ interval_s: res.interval_s }) });
section("numbering", { path: "/settings/numbering", pick: (res) => res });
section("access", {
  path: "/settings/access",
  pick: (res) => ({ ...res.settings, intranet_networks: (res.settings.intranet_networks || []).join("\n") }),
  out: (v, form) => ({
    intranet_url: form.elements.intranet_url.value.trim(),
    extranet_url: form.elements.extranet_url.value.trim(),
    intranet_networks: form.elements.intranet_networks.value.split(/[\s,]+/).filter(Boolean),
  }),
});
section("live", { path: "/settings/live" });
section("logs", { path: "/settings/logs" });

loadBackups().catch((e) => { if (backupForm) showError(backupForm.querySelector(".error"), e); });
