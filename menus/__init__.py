"""Call flows as data (``menus/main.yaml``) and the engine that runs them on a call.

The worker calls :func:`build_flow` once (it loads the menu and prepares every prompt), then
:meth:`FlowRunner.run` per answered call, and :meth:`FlowRunner.reload` on SIGHUP.
"""

from menus.flow import FlowRunner
from menus.loader import MenuHolder, load_menu, menu_from_mapping
from menus.schema import Menu, MenuError
from menus.speech import static_texts
from menus.startup import build_flow

__all__ = [
    "FlowRunner",
    "Menu",
    "MenuError",
    "MenuHolder",
    "build_flow",
    "load_menu",
    "menu_from_mapping",
    "static_texts",
]
