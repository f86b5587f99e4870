"""Progress of long work: a rich bar on a terminal, structured log lines otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from vde.logs import get_logger

log = get_logger(__name__)

Advance = Callable[..., None]


@contextmanager
def progress(
    label: str, total: int, *, event: str, show: bool | None = None, transient: bool = False
) -> Iterator[Advance]:
    """Yields ``advance(n=1, detail="", **fields)`` for ``total`` steps of work.

    ``show`` None means a bar when stderr is a terminal. Without a bar every call logs
    ``event`` with ``fields``, so a service's log still tells how far the work went.
    """
    if show is None:
        show = sys.stderr.isatty()
    if not show:

        def log_step(n: int = 1, detail: str = "", **fields: Any) -> None:
            log.info(event, **fields)

        yield log_step
        return

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=transient,
    ) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int = 1, detail: str = "", **fields: Any) -> None:
            bar.update(task, advance=n, description=f"{label} {detail}".strip())

        yield advance
