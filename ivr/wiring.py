"""Wiring of a call worker's production handler: the store, the hotline services, the prompt library and the
call flow, opened once per worker process before it takes calls."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from ivr.channel import CallChannel
from ivr.prompts import PromptLibrary
from ivr.store_services import StoreServices
from menus.flow import FlowRunner
from menus.loader import load_menu
from menus.speech import static_texts
from menus.startup import build_flow
from tickets.config import Settings
from tickets.district import load_district
from tickets.store import Store

__all__ = ["Hotline", "menu_texts", "open_hotline", "towns_of"]

log = logging.getLogger(__name__)


def towns_of(settings: Settings) -> list[tuple[str, str]]:
    """The district's towns/streets as ``(code, name)``, in file order."""
    return [(t.code, t.name) for t in load_district(settings.paths.district_file).towns]


@dataclasses.dataclass(slots=True)
class Hotline:
    store: Store
    services: StoreServices
    prompts: PromptLibrary
    runner: FlowRunner

    async def handle(self, channel: CallChannel) -> None:
        await self.runner.run(channel)

    def reload(self) -> None:
        self.runner.reload()

    async def close(self) -> None:
        await self.store.close()


async def open_hotline(settings: Settings, *, worker: str) -> Hotline:
    """Open the store, prepare every prompt the menu and the data can say, and build the flow."""
    store = Store(settings)
    try:
        services = StoreServices(store, recordings_dir=settings.paths.recordings_dir, worker=worker)
        prompts = PromptLibrary(settings)
        await asyncio.to_thread(prompts.prepare_pieces)
        departments = [d.name for d in await store.people.departments()]
        runner = await build_flow(settings, prompts, services, towns=towns_of(settings), departments=departments,
                                  worker=worker)
    except BaseException:
        await store.close()
        raise
    log.info("%s: call flow ready (%d towns, %d departments)", worker, len(towns_of(settings)), len(departments))
    return Hotline(store, services, prompts, runner)


async def menu_texts(settings: Settings) -> Sequence[tuple[str | None, str]]:
    """Every ``(key, text)`` the menus can say with the current data (for ``hotline prompts render``)."""
    store = Store(settings)
    try:
        services = StoreServices(store, recordings_dir=settings.paths.recordings_dir)
        guides = list(await services.top_guides(settings.ivr.top_guides))
        departments = [d.name for d in await store.people.departments()]
    finally:
        await store.close()
    return static_texts(load_menu(settings.ivr.menu_file), towns=towns_of(settings), departments=departments,
                        guides=guides)
