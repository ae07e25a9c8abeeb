// A member link's state as the pages show it: translated through the catalog.
// The states are the link driver's (down, connecting, syncing, up, stopped) plus the
// supervisor's "misconfigured"; a member without a server is "not bound".
import { t } from "./i18n.js";

const LABEL = {
  up: () => t("link up"),
  connecting: () => t("connecting"),
  syncing: () => t("syncing"),
  down: () => t("link down"),
  stopped: () => t("stopped"),
  misconfigured: () => t("misconfigured"),
  unbound: () => t("not bound"),
};

/** The words for `state` in the page's language (an unknown state is shown as sent). */
export function linkStateLabel(state) {
  return (LABEL[state || "unbound"] || (() => String(state)))();
}
