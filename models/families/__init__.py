"""The catalogue of GAN families: every module of this package registers one (see :mod:`models.family`), and
all of them are imported on the first lookup, so a new family needs no edit outside its own module."""

from __future__ import annotations

import importlib
import pkgutil

from models.family import FAMILIES, VARIANTS, Family, Variant


def load_builtin_families() -> None:
    """Import every module of this package (each registers its family and variants)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def variant_names() -> tuple[str, ...]:
    load_builtin_families()
    return tuple(VARIANTS)


def _lookup(registry: dict, name: str, what: str, plural: str):
    load_builtin_families()
    try:
        return registry[name]
    except KeyError:
        raise KeyError(f"unknown GAN {what} {name!r}; registered {plural}: {', '.join(sorted(registry))}") from None


def get_variant(name: str) -> Variant:
    return _lookup(VARIANTS, name, "variant", "variants")


def get_family(name: str) -> Family:
    return _lookup(FAMILIES, name, "family", "families")


def family_of(variant: str) -> Family:
    return get_family(get_variant(variant).family)
