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


def family_names() -> tuple[str, ...]:
    load_builtin_families()
    return tuple(FAMILIES)


def variant_of(family: str, variant: str) -> str:
    """The variant that trains ``variant``'s loss on ``family``'s networks: ``variant`` itself when it is one of
    ``family``'s; the family's own variant (its paper's recipe, optimiser included) when the loss and the regulariser
    are its paper's (``cgan`` × ``non-saturating`` = ``cgan``, ``sngan`` × ``hinge`` = ``sngan``); else
    ``<family>-<variant>``, that variant's whole recipe on the family's networks (``cgan-wgan-gp``). A family that
    trains its paper's loss only has no other: refused naming both."""
    recipe = get_variant(variant)
    get_family(family)
    if recipe.family == family:
        return variant
    own = VARIANTS.get(family)
    if own is not None and (own.loss, own.regulariser) == (recipe.loss, recipe.regulariser):
        return family
    if f"{family}-{variant}" in VARIANTS:
        return f"{family}-{variant}"
    offered = sorted(name for name, v in VARIANTS.items() if v.family == family)
    raise KeyError(f"family {family} cannot train variant {variant}: it offers {', '.join(offered)} only")
