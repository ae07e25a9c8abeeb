"""The admin JSON API under /api/v1: one module per resource, all on one registry.

Importing this package registers every endpoint on ``api``.
"""

from __future__ import annotations

from dashboards.endpoint import Api

api = Api()

from dashboards.api import (  # noqa: E402,F401  (registration side effects)
    admins,
    asyncapi,
    audit,
    auth,
    backups,
    calls,
    commands,
    data,
    journal,
    live,
    logs,
    members,
    numbers,
    preferences,
    settings,
    sso,
    sync,
    system,
    tokens,
)
