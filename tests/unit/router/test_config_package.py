"""router/config/ is split by concern (escalation, service, auth, console, load), but
``router.config`` stays the one import path: every public name its modules define is there."""

from __future__ import annotations

import importlib
import pkgutil

import router.config

MODULES = [info.name for info in pkgutil.iter_modules(router.config.__path__)]


def test_every_public_config_name_is_importable_from_router_config() -> None:
    missing = []
    for module_name in MODULES:
        module = importlib.import_module(f"router.config.{module_name}")
        for name, value in vars(module).items():
            # Classes, functions and constants defined in this module, not imported into it.
            defined_here = getattr(value, "__module__", module.__name__) == module.__name__
            if name.startswith("_") or not defined_here or not (callable(value)
                                                                or name.isupper()):
                continue
            if getattr(router.config, name, None) is not value:
                missing.append(f"{module_name}.{name}")
    assert missing == [], f"add these to router/config/__init__.py: {missing}"
    exported = {n for n in vars(router.config) if not n.startswith("_")} - set(MODULES)
    assert sorted(router.config.__all__) == sorted(exported)
