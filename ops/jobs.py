"""Background jobs of a node: one at a time per slot, their state kept for the asker.

A long operation asked for through the API (a backup, the staging of a restore, an
upgrade) runs here, not inside the request: ``start`` refuses (409) while the slot's
job runs, else begins the work as a task and returns the job at once; the API answers
202 with the job's location and ``GET`` reads it (``wait`` lets a caller block until
it ends, up to a bound). When a job ends, its result or reason is audited with the
name of whoever asked. The last ``keep`` jobs are kept, in memory: a job belongs to
the node that runs it (its location names that node's API).

``Job`` is the immutable record handed out; the runner replaces it on every change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from dashboards.operations import OperationError
from storage.audit import AuditLog

log = logging.getLogger("fedhub.ops")

RUNNING, DONE, FAILED = "running", "done", "failed"
MAX_WAIT = 60.0
STOPPED = {"code": "stopped", "message": "the node stopped before the job ended"}


@dataclass(frozen=True)
class Job:
    id: str
    slot: str  # one job at a time per slot on this node ("backup": backups, restores)
    kind: str  # what it does: backup, restore, upgrade
    by: str  # who asked: an admin's label, or "(schedule)"
    by_id: int | None
    started_at: datetime
    state: str = RUNNING
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "by": self.by,
            "started_at": self.started_at.isoformat(),
        }
        if self.finished_at is not None:
            out["finished_at"] = self.finished_at.isoformat()
        if self.result is not None:
            out["result"] = self.result
        if self.error is not None:
            out["error"] = self.error
        return out


Work = Callable[[], Awaitable[dict[str, Any]]]


class Jobs:
    """The node's job runner (see the module doc)."""

    def __init__(
        self,
        audit: AuditLog | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        keep: int = 20,
    ):
        self._audit = audit
        self._clock = clock
        self._keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._done: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def running(self, slot: str) -> Job | None:
        return next((j for j in self._jobs.values() if j.slot == slot and j.state == RUNNING), None)

    def start(
        self,
        slot: str,
        kind: str,
        work: Work,
        *,
        by: str,
        action: str,
        by_id: int | None = None,
        target: str = "",
        then: Callable[[Job], None] | None = None,
    ) -> Job:
        """Begin ``work``; OperationError 409 while another job of ``slot`` runs. When
        it ends, ``action`` is audited (ok with its result, failed with the reason), then
        ``then`` is told."""
        busy = self.running(slot)
        if busy is not None:
            raise OperationError(
                409,
                f"{busy.kind}_running",
                f"a {busy.kind} is running on this node (job {busy.id}); try again when it "
                "has finished",
            )
        job = Job(secrets.token_hex(8), slot, kind, by, by_id, self._clock())
        self._put(job)
        self._done[job.id] = asyncio.Event()
        self._tasks[job.id] = asyncio.get_running_loop().create_task(
            self._run(job, work, action, target, then), name=f"job-{kind}-{job.id}"
        )
        return job

    async def run(self, slot: str, kind: str, work: Work, *, by: str, action: str) -> Job:
        """``start`` and wait for the end (the scheduler's way: same slot, same audit)."""
        job = self.start(slot, kind, work, by=by, action=action)
        await self._done[job.id].wait()
        return self._jobs[job.id]

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    async def wait(self, job_id: str, seconds: float) -> Job | None:
        """The job once it has ended, or as it is after ``seconds`` (≤ ``MAX_WAIT``)."""
        done = self._done.get(job_id)
        if done is not None and seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(seconds, MAX_WAIT)):
                    await done.wait()
        return self._jobs.get(job_id)

    async def stop(self) -> None:
        """Cancel what still runs (the node stops)."""
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task  # _run catches everything else
        for job in list(self._jobs.values()):  # cancelled before it began
            if job.state == RUNNING:
                self._jobs[job.id] = replace(
                    job, state=FAILED, error=STOPPED, finished_at=self._clock()
                )

    def _put(self, job: Job) -> None:
        self._jobs[job.id] = job
        self._jobs.move_to_end(job.id)
        while len(self._jobs) > self._keep:
            old, _ = self._jobs.popitem(last=False)
            self._done.pop(old, None)

    async def _run(
        self, job: Job, work: Work, action: str, target: str, then: Callable[[Job], None] | None
    ) -> None:
        try:
            result = await work()
        except OperationError as e:
            ended = replace(job, state=FAILED, error={"code": e.code, "message": e.message})
        except asyncio.CancelledError:
            ended = replace(job, state=FAILED, error=STOPPED)
        except Exception as e:
            log.exception("job %s (%s) failed", job.id, job.kind)
            ended = replace(
                job,
                state=FAILED,
                error={"code": "internal_error", "message": f"{type(e).__name__}; see the log"},
            )
        else:
            ended = replace(job, state=DONE, result=result)
        ended = replace(ended, finished_at=self._clock())
        if job.id in self._jobs:
            self._jobs[job.id] = ended
        self._tasks.pop(job.id, None)
        await self._record(ended, action, target)
        event = self._done.get(job.id)
        if event is not None:
            event.set()
        if then is not None:
            try:
                then(ended)
            except Exception:
                log.exception("after job %s", job.id)

    async def _record(self, job: Job, action: str, target: str) -> None:
        if self._audit is None:
            return
        details: dict[str, object] = {"job": job.id}
        if job.result is not None:
            details.update({k: v for k, v in job.result.items() if k in ("id", "size", "name")})
            if not target and "id" in job.result:
                target = f"{job.kind}:{job.result['id']}"
        try:
            await self._audit.record(
                action=action,
                result="ok" if job.state == DONE else "failed",
                admin_id=job.by_id,
                admin_name=job.by,
                target=target,
                reason="" if job.error is None else f"{job.error['code']}: {job.error['message']}",
                details=details,
            )
        except Exception:
            log.exception("could not audit the end of job %s", job.id)
