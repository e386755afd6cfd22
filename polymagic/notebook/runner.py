"""Running a build for the notebook: the same preflight, submit and follow as the CLI, wired to
the progress widget, in the foreground or in a background thread.

Shared by ``%%polybuild`` and the build form. Widgets are updated through the progress widget's
thread-safe ``on_event``; nothing here prints. When the build ends, the widget's place in the
cell's output is given its static copy (``BuildProgress.final_view``), so a saved notebook shows
the outcome without widget state, and the record's place the build record (or why there is
none).
"""

from __future__ import annotations

import atexit
import contextlib
import html
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from IPython.display import DisplayHandle, display

from polymagic.errors import BuildCancelled, BuildError, ClusterError
from polymagic.kube.client import Cluster
from polymagic.kube.session import BuildOptions, BuildResult, BuildSession, start_build
from polymagic.notebook.progress_widget import BuildProgress
from polymagic.notebook.views import BuildRecord
from polymagic.printable import printable
from polymagic.render.compiler import CompiledBuild

__all__ = ["NotebookBuild", "run_notebook_build"]


@dataclass
class NotebookBuild:
    """A build started from the notebook: its session, widget and (once done) result."""

    session: BuildSession
    progress: BuildProgress
    record: DisplayHandle | None
    widget_handle: DisplayHandle | None = None
    thread: threading.Thread | None = None
    result: BuildResult | None = None
    error: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event)
    build: CompiledBuild | None = None
    started: str = ""
    """When it was asked for (RFC 3339), for the provenance."""
    attested: DisplayHandle | None = None
    """Where the lines saying where the SBOM and the provenance went are shown."""

    def follow(self, on_done: Callable[[NotebookBuild], None] | None = None) -> None:
        """Feed the session's events to the widget until the build ends."""
        try:
            for event in self.session.events():
                self.progress.on_event(event)
            self.result = self.session.result
            if self.result is not None:
                built_at = _BUILT.when(self.result.digest) if self.result.reused else ""
                record = BuildRecord.from_result(self.result, built_at=built_at)
                if not self.result.reused:
                    _BUILT.remember(record.digest, record.finished_at)
                self.progress.finish_success(self.result, built_at=built_at)
                if self.record is not None:
                    self.record.update(record)
                self._attest(self.result)
        except KeyboardInterrupt:
            self.session.cancel()
            self.error = BuildCancelled(name=self.session.name)
            self.progress.finish_cancelled(str(self.error))
        except BuildCancelled as exc:
            self.error = exc
            self.progress.finish_cancelled(str(exc))
        except (BuildError, ClusterError) as exc:
            self.error = exc
            self.progress.finish_failure(exc, log_tail=tuple(self.session.parser.tail))
        finally:
            if self.widget_handle is not None:
                self.widget_handle.update(self.progress.final_view())
            if self.record is not None and self.result is None:
                self.record.update(_Ended(self.session.name, self.progress.outcome.value))
            self.done.set()
            if on_done is not None:
                on_done(self)

    def _attest(self, result: BuildResult) -> None:
        """Attach the SBOM and the provenance (unless the ``attest`` setting is off) and show
        where they went."""
        from polymagic.app.attest import attest_result, destination_auth, now_text

        if self.build is None or not self.session.options.attest:
            return
        auth = destination_auth(self.session.cluster, self.build, result)
        lines = attest_result(
            result,
            self.build,
            self.session.options,
            started=self.started,
            finished=now_text(),
            auth=auth,
        )
        if self.attested is not None:
            self.attested.update(_Lines(lines))


class _BuiltImages:
    """When this kernel built each image (by digest), so a later reuse of it can say when it
    was built; bounded, thread-safe."""

    _LIMIT = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._when: dict[str, str] = {}

    def remember(self, digest: str, finished_at: str) -> None:
        with self._lock:
            self._when.pop(digest, None)
            self._when[digest] = finished_at
            while len(self._when) > self._LIMIT:
                del self._when[next(iter(self._when))]

    def when(self, digest: str) -> str:
        with self._lock:
            return self._when.get(digest, "")


_BUILT = _BuiltImages()


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def run_notebook_build(
    cluster: Cluster,
    build: CompiledBuild,
    options: BuildOptions,
    *,
    background: bool = False,
    on_start: Callable[[NotebookBuild], None] | None = None,
    on_done: Callable[[NotebookBuild], None] | None = None,
) -> NotebookBuild:
    """Preflight and submit ``build``, show its progress widget, and follow it.

    In the foreground this returns when the build has ended (raising its error); with
    ``background`` it returns at once and a daemon thread keeps the widget up to date.
    """
    from polymagic.app.attest import now_text

    started = now_text()
    session = start_build(cluster, build, options)
    progress = BuildProgress(session.name, len(session.parser.steps))
    # The full log stays readable after the build; it is removed when the kernel exits.
    atexit.register(_remove, progress.full_log_path)
    progress.set_cancel(session.cancel)
    # With a display id the final state replaces the first one in the saved notebook too.
    shown = display(progress, display_id=True)
    # A placeholder whose content is replaced by the build record when the build succeeds, so
    # a background build can still leave its record in the cell's output.
    record = display(_Pending(session.name), display_id=True)
    attested = display(_Lines([_ATTESTING]), display_id=True) if session.options.attest else None
    running = NotebookBuild(
        session,
        progress,
        record if isinstance(record, DisplayHandle) else None,
        widget_handle=shown if isinstance(shown, DisplayHandle) else None,
        build=build,
        started=started,
        attested=attested if isinstance(attested, DisplayHandle) else None,
    )
    if on_start is not None:
        on_start(running)
    if background:
        running.thread = threading.Thread(
            target=running.follow, args=(on_done,), name=f"polymagic-{session.name}", daemon=True
        )
        running.thread.start()
        return running
    running.follow(on_done)
    if running.error is not None:
        raise running.error
    return running


class _Ended:
    """What the record's place shows when the build produced no image."""

    def __init__(self, name: str, reason: str) -> None:
        self.text = f"build `{name}`: no image ({reason})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": self.text}


class _Pending:
    """What the record's place shows until the build has a result."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {"text/plain": f"build `{self.name}`: no image yet"}


_ATTESTING = "SBOM and provenance: attached after the push (setting `attest`)"


class _Lines:
    """What attaching the SBOM and the provenance did, one line each."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = [printable(line) for line in lines] or ["nothing attached"]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines)
        return {
            "text/plain": "\n".join(self.lines),
            "text/html": f"<ul class='polymagic-attested'>{items}</ul>",
        }
