"""Wiring for the call worker: load the menu, prepare every prompt, build the :class:`FlowRunner`.

In the worker (per process, before taking calls)::

    runner = await build_flow(settings, prompts, services, towns=towns, departments=departments,
                              worker=f"worker-{index}")
    Worker(settings, index, handler=runner.run, reload=runner.reload)  # SIGHUP -> runner.reload()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence

from ivr.prompt_source import PromptSource
from ivr.services import HotlineServices
from menus.flow import FlowRunner
from menus.guides import MAX_GUIDES
from menus.loader import MenuHolder
from menus.schema import Menu
from menus.speech import static_texts
from tickets.config import Settings

__all__ = ["build_flow"]

logger = logging.getLogger(__name__)


async def build_flow(
    settings: Settings,
    prompts: PromptSource,
    services: HotlineServices,
    *,
    towns: Sequence[tuple[str, str]] = (),
    departments: Iterable[str] = (),
    extra_texts: Iterable[tuple[str | None, str]] = (),
    worker: str | None = None,
) -> FlowRunner:
    """Load ``ivr.menu_file`` (raises :class:`~menus.schema.MenuError`), render every static text of it plus
    the towns, departments and current top guides (in a thread), and return the runner; its
    :meth:`FlowRunner.reload` re-reads the menu file (the worker's SIGHUP)."""
    guides = list(await services.top_guides(min(settings.ivr.top_guides, MAX_GUIDES)))
    departments = tuple(departments)
    extra = tuple(extra_texts)

    def prepare(menu: Menu) -> None:
        texts = static_texts(menu, towns=towns, departments=departments, guides=guides, extra=extra)
        prompts.prepare(texts)
        logger.info("menu %s: %d prompts prepared", menu.source, len(texts))

    holder = await asyncio.to_thread(MenuHolder, settings.ivr.menu_file, prepare=prepare)
    return FlowRunner(
        holder, prompts, services, settings.ivr, settings.agents, settings.paths.recordings_dir, towns,
        timezone=settings.tickets.timezone, worker=worker,
    )
