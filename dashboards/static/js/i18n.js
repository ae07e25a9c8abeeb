// Translations and locale formatting for the pages' scripts.
// The page embeds its catalog (English message id -> translation) as JSON; English
// is the source language, so a missing entry shows the id itself.
const catalog = JSON.parse(document.getElementById("fh-i18n")?.textContent || "{}");
export const locale = document.querySelector('meta[name="fedhub-locale"]')?.content || "zh-CN";

/** Translate an English message id; `{name}` placeholders are filled from `values`. */
export function t(message, values = {}) {
  const text = catalog[message] || message;
  return text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium" });
const numberFormat = new Intl.NumberFormat(locale);

/** An ISO 8601 time as this locale writes it ("" for none). */
export function fmtDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateFormat.format(d);
}

export function fmtNum(n) {
  return typeof n === "number" ? numberFormat.format(n) : String(n ?? "");
}
