#!/usr/bin/env bash
# Install a fedhub node on Debian 12: system user, virtual environment, data directory,
# certificate, systemd unit with hardening options. Standalone by default; a cluster node
# needs a cluster file (one line per node: "primary|secondary NAME ADDRESS", odd total).
#
#   sudo ops/install.sh [--mode standalone|cluster] [--cluster-file FILE] [--node-name NAME]
#                       [--prefix DIR] [--source DIR] [--port N] [--yes] [--no-start]
#
# Without --mode it asks, and chooses standalone after 30 s without an answer
# (FEDHUB_INSTALL_TIMEOUT changes the wait). --prefix installs into DIR as if it were /
# (a staging root: no user is created and nothing is started); the unit and the
# configuration still name the final paths (/opt/fedhub, /etc/fedhub, /var/lib/fedhub).
# Remove with `fedhub uninstall` (keeps backups unless --purge-backups).
set -euo pipefail

PREFIX=/
MODE=""
CLUSTER_FILE=""
NODE_NAME=""
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT=443
YES=0
START=1
PYTHON=${PYTHON:-python3}
TIMEOUT=${FEDHUB_INSTALL_TIMEOUT:-30}
PIP_ARGS=${FEDHUB_PIP_ARGS:-}

die() { echo "install: $*" >&2; exit 1; }
say() { echo "== $*"; }

while (($#)); do
  case "$1" in
    --mode) MODE=${2:?}; shift 2 ;;
    --cluster-file) CLUSTER_FILE=${2:?}; shift 2 ;;
    --node-name) NODE_NAME=${2:?}; shift 2 ;;
    --prefix) PREFIX=${2:?}; shift 2 ;;
    --source) SOURCE=${2:?}; shift 2 ;;
    --port) PORT=${2:?}; shift 2 ;;
    --yes) YES=1; shift ;;
    --no-start) START=0; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

PREFIX=${PREFIX%/}
STAGING=0
[[ -n "$PREFIX" ]] && STAGING=1
OPT=/opt/fedhub ETC=/etc/fedhub DATA=/var/lib/fedhub
UNIT=/etc/systemd/system/fedhub.service

if ((!STAGING)); then
  [[ $EUID -eq 0 ]] || die "run as root (or use --prefix DIR to stage into a directory)"
  if ! grep -q '^VERSION_ID="12"' /etc/os-release 2>/dev/null || ! grep -q '^ID=debian' /etc/os-release; then
    echo "install: warning: this installer is made for Debian 12" >&2
  fi
fi
[[ "$PORT" =~ ^[0-9]+$ ]] && ((PORT >= 1 && PORT <= 65535)) || die "--port $PORT is not a port"
[[ -f "$SOURCE/pyproject.toml" ]] || die "no fedhub source in $SOURCE (use --source)"

# --- standalone or cluster -------------------------------------------------------------
if [[ -z "$MODE" ]]; then
  if ((YES)); then
    MODE=standalone
  else
    answer=""
    printf 'Install a standalone node or a cluster node? [S/c] (standalone in %s s): ' "$TIMEOUT"
    read -r -t "$TIMEOUT" answer || true
    echo
    case "${answer,,}" in
      c|cluster) MODE=cluster ;;
      ""|s|standalone) MODE=standalone ;;
      *) die "answer s (standalone) or c (cluster), not '$answer'" ;;
    esac
  fi
fi
case "$MODE" in
  standalone) ;;
  cluster)
    [[ -n "$CLUSTER_FILE" ]] || die "a cluster node needs --cluster-file FILE"
    [[ -r "$CLUSTER_FILE" ]] || die "cannot read the cluster file $CLUSTER_FILE"
    # hub/nodes.py is pure Python: check the file before anything is written
    PYTHONPATH="$SOURCE" "$PYTHON" - "$CLUSTER_FILE" "$NODE_NAME" <<'PY' || exit 1
import sys
from hub.nodes import NodeError, parse_cluster
try:
    plan = parse_cluster(open(sys.argv[1], encoding="utf-8").read())
except NodeError as e:
    sys.exit(f"install: cluster file {sys.argv[1]}: {e.message}")
nodes = [plan.primary, *plan.secondaries]
if sys.argv[2] and sys.argv[2] not in {n.name for n in nodes}:
    sys.exit(f"install: node {sys.argv[2]} is not in the cluster file")
print(f"== cluster of {plan.size}: primary {plan.primary.name}, "
      f"secondaries {', '.join(n.name for n in plan.secondaries) or '-'}")
PY
    [[ -n "$NODE_NAME" ]] || die "a cluster node needs --node-name (its line in the cluster file)"
    ;;
  *) die "--mode is standalone or cluster, not '$MODE'" ;;
esac
say "mode: $MODE"

# --- user, folders ---------------------------------------------------------------------
if ((STAGING)); then
  say "staging into $PREFIX (no system user, nothing started)"
elif ! id -u fedhub >/dev/null 2>&1; then
  say "creating system user fedhub"
  useradd --system --user-group --home-dir "$DATA" --no-create-home \
    --shell /usr/sbin/nologin fedhub
fi
install -d -m 0755 "$PREFIX$OPT" "$PREFIX$ETC" "$PREFIX/etc/systemd/system" "$PREFIX/usr/local/bin"
install -d -m 0750 "$PREFIX$DATA" "$PREFIX$DATA/backups"

# --- virtual environment ---------------------------------------------------------------
# one environment per version under releases/, "current" pointing at the one that runs:
# an upgrade from the API installs beside it and switches the link (docs/operations.md)
VERSION=$("$PYTHON" - "$SOURCE" <<'PY'
import pathlib, sys, tomllib
src = pathlib.Path(sys.argv[1])
if src.is_dir():
    print(tomllib.loads((src / "pyproject.toml").read_text())["project"]["version"])
else:  # a wheel: name-version-...whl
    print(src.name.split("-")[1])
PY
)
RELEASE=$OPT/releases/$VERSION
say "virtual environment in $RELEASE ($OPT/current)"
install -d -m 0755 "$PREFIX$OPT/releases"
[[ -x "$PREFIX$RELEASE/bin/python" ]] || "$PYTHON" -m venv "$PREFIX$RELEASE"
# shellcheck disable=SC2086  # PIP_ARGS is a list of options
"$PREFIX$RELEASE/bin/python" -m pip install -q $PIP_ARGS "$SOURCE"
ln -sfn "releases/$VERSION" "$PREFIX$OPT/current"
ln -sfn "$OPT/current/bin/fedhub" "$PREFIX/usr/local/bin/fedhub"
FEDHUB="$PREFIX$RELEASE/bin/fedhub"

# --- configuration, node identity, certificate ------------------------------------------
if [[ ! -f "$PREFIX$ETC/fedhub.env" ]]; then
  cat >"$PREFIX$ETC/fedhub.env" <<ENV
# fedhub node settings (read by fedhub.service)
FEDHUB_MODE=$MODE
FEDHUB_DATA=$DATA
FEDHUB_HOST=0.0.0.0
FEDHUB_PORT=$PORT
# a cluster shares PostgreSQL: FEDHUB_DB_URL=postgresql://fedhub:PASSWORD@HOST/fedhub
ENV
  chmod 0640 "$PREFIX$ETC/fedhub.env"
fi
if [[ "$MODE" == cluster ]]; then
  install -m 0644 "$CLUSTER_FILE" "$PREFIX$ETC/cluster.conf"
  role=$(awk -v n="$NODE_NAME" '$1 !~ /^#/ && $2 == n {print $1}' "$CLUSTER_FILE")
  address=$(awk -v n="$NODE_NAME" '$1 !~ /^#/ && $2 == n {print $3}' "$CLUSTER_FILE")
  "$FEDHUB" node set --data "$PREFIX$DATA" --name "$NODE_NAME" --role "$role" \
    --intranet-address "$address"
elif [[ -n "$NODE_NAME" ]]; then
  "$FEDHUB" node set --data "$PREFIX$DATA" --name "$NODE_NAME" --role primary
fi
say "certificate (self-signed until one is imported: fedhub cert import)"
cert=$("$FEDHUB" cert show --data "$PREFIX$DATA")
echo "${cert%%$'\n'*}"

# --- systemd unit --------------------------------------------------------------------------
say "systemd unit $UNIT"
cat >"$PREFIX$UNIT" <<UNIT
[Unit]
Description=fedhub federation hub ($MODE node)
Documentation=https://github.com/fedhub/fedhub
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
Type=exec
User=fedhub
Group=fedhub
EnvironmentFile=$ETC/fedhub.env
ExecStart=$OPT/current/bin/fedhub serve --host \${FEDHUB_HOST} --port \${FEDHUB_PORT} --data \${FEDHUB_DATA} --sip
# a restart from the API re-executes in place (same PID); this is the net for a crash
# and for an upgrade's rollback, which stops the new version and leaves the start to us
Restart=always
RestartSec=5
TimeoutStopSec=30
LimitNOFILE=65536
UMask=0027
# privileges: only binding ports below 1024 (HTTPS 443, SIP 5060/5061 are above anyway)
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
# file system: read-only everywhere but the data directory and the releases
# (an upgrade from the API installs a new release and switches $OPT/current)
ProtectSystem=strict
ReadWritePaths=$DATA $OPT
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
# kernel interfaces
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
UNIT
chmod 0644 "$PREFIX$UNIT"

if ((!STAGING)); then
  chown -R fedhub:fedhub "$DATA"
  chown fedhub:fedhub "$OPT" "$OPT/releases"  # upgrades add releases, switch current
  chown root:fedhub "$ETC/fedhub.env"
  if ((START)) && [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    systemctl enable --now fedhub.service
    say "fedhub is running: https://$(hostname -f):$PORT/ (admin / 123456, change it at once)"
  else
    say "installed; start it with: systemctl enable --now fedhub"
  fi
else
  say "staged in $PREFIX"
fi
