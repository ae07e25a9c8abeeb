// The JSON API as the pages use it: same-origin fetch with the session's CSRF token.
// Errors become ApiError with the server's code and message (shown as they are: the
// server's messages already say exactly why, within the caller's scope).
import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, code, message, details = {}, headers = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.headers = headers;
  }
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

let csrf = csrfToken();
export function setCsrf(token) {
  csrf = token;
}

/**
 * Call `/api/v1{path}`; resolves to `{status, data, headers}` (data null for 204).
 * `background: true` marks a request the page makes on its own (polling): it does
 * not count as the admin's activity, so an unattended page still idles out.
 */
export async function apiResponse(method, path, body, { background = false } = {}) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  if (background) headers["x-fedhub-background"] = "1";
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (e) {
    throw new ApiError(0, "network", t("The hub cannot be reached; check the connection."));
  }
  if (resp.status === 204) return { status: 204, data: null, headers: resp.headers };
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    const err = (data && data.error) || {};
    if (resp.status === 401 && !path.startsWith("/auth/")) {
      location.assign(`/?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    throw new ApiError(resp.status, err.code || "http_" + resp.status,
      err.message || t("The request failed ({status}).", { status: resp.status }),
      err.details || {}, resp.headers);
  }
  return { status: resp.status, data, headers: resp.headers };
}

/** Call `/api/v1{path}`; resolves to the parsed JSON (or null for 204). */
export async function api(method, path, body, options) {
  return (await apiResponse(method, path, body, options)).data;
}

/** Show `error` in the form's alert paragraph (or hide it with null). */
export function showError(el, error) {
  if (!el) return;
  el.textContent = error ? error.message || String(error) : "";
  el.hidden = !error;
}

/** A form's fields as an object; empty optional fields are left out. */
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "submit" || el.type === "button") continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.value === "") continue;
    else if (el.type === "number") out[el.name] = Number(el.value);
    else out[el.name] = el.value;
  }
  return out;
}

/** Create an element: h("td", {class: "x"}, "text", child, …). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function toast(message) {
  const box = document.getElementById("fh-toast");
  if (!box) return;
  box.textContent = message;
  box.classList.add("shown");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("shown"), 4000);
}
