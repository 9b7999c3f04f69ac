"""The service-guide catalog (办事指南): typed items in the shared store, search by name, pinyin initials,
remote-control digits and code, import/export, and an immutable in-memory snapshot for the TV API."""

from tickets.catalog.errors import CatalogError, CatalogImportError
from tickets.catalog.schema import (
    THEMES,
    GuideItem,
    ImportSummary,
    ItemType,
    Material,
    MaterialForm,
    Page,
    Step,
    Theme,
    ThemeKind,
)
from tickets.catalog.search import SearchMode
from tickets.catalog.service import Catalog, CatalogSnapshot

__all__ = [
    "THEMES",
    "Catalog",
    "CatalogError",
    "CatalogImportError",
    "CatalogSnapshot",
    "GuideItem",
    "ImportSummary",
    "ItemType",
    "Material",
    "MaterialForm",
    "Page",
    "SearchMode",
    "Step",
    "Theme",
    "ThemeKind",
]
