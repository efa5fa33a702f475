"""The console's background work on this node: ``audit verify`` runs with progress.

Held by the app's lifespan (``request.state.console``), like the export tasks; the last
run's result stays in memory on the node that ran it (a restart forgets it; the audit
log keeps ``audit.verified``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from chat.actions.audit import VerifyReport, verify_log
from chat.audit.record import audit
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction

log = logging.getLogger(__name__)


@dataclass
class VerifyRun:
    started_by: str
    started_at: str
    state: str = "running"          # running | done | failed
    done: int = 0
    total: int = 0
    report: VerifyReport | None = None
    error: str | None = None
    finished_at: str | None = None


class ConsoleState:
    def __init__(self) -> None:
        self.verify: VerifyRun | None = None
        self._task: asyncio.Task[None] | None = None

    def start_verify(self, ctx: AppContext, *, actor: Principal, by: str) -> VerifyRun:
        """Start ``audit verify`` unless one is running here (then that one is
        returned): walking the whole log is heavy, one at a time per node."""
        if self.verify is not None and self.verify.state == "running":
            return self.verify
        run = VerifyRun(started_by=by, started_at=ctx.clock.now().isoformat())
        self.verify = run
        self._task = asyncio.create_task(self._run(ctx, run, actor), name="audit-verify")
        return run

    async def _run(self, ctx: AppContext, run: VerifyRun, actor: Principal) -> None:
        def progress(done: int, total: int) -> None:
            run.done, run.total = done, total

        try:
            report = await verify_log(ctx, progress=progress)
        except Exception as error:
            log.exception("audit verify failed")
            run.state, run.error = "failed", str(error) or type(error).__name__
        else:
            run.state, run.report = "done", report
        run.finished_at = ctx.clock.now().isoformat()
        await audit(ctx, AuditAction.AUDIT_VERIFIED,
                    outcome="ok" if run.state == "done" else "failed",
                    actor_user_id=actor.user_id, session_id=actor.session_id,
                    device_id=actor.device_id, by=run.started_by,
                    ok=bool(run.report and run.report.ok),
                    entries=run.report.entries if run.report else 0,
                    problems=len(run.report.problems) if run.report else 0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
