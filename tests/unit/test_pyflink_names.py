"""headwater.pyflink against PyFlink 1.20's public names (``__all__`` of each module,
checked in as tests/data/pyflink_1_20_names.json).

Every name is either offered (the same object as in ``headwater.api``: a re-export, not
a second implementation) or out of scope for a stated reason (``_scope.OUT_OF_SCOPE``:
JVM-only wrappers, Java connector schemas, serializer classes).
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import headwater.api
import headwater.pyflink
from headwater.pyflink._scope import OUT_OF_SCOPE
from tests import pyflink_names

MODULES = pyflink_names.pyflink_modules()


@pytest.mark.parametrize("module_name", sorted(MODULES))
def test_no_in_scope_name_is_missing(module_name):
    module = pyflink_names.headwater_module(module_name)
    missing = [n for n in MODULES[module_name]
               if pyflink_names.status(module, n) == "missing"]
    assert missing == [], f"{module_name}: in-scope names missing from headwater.pyflink"


def test_top_level_counts():
    # pyflink.datastream: 59 names; pyflink.common: 27 names
    assert pyflink_names.counts("pyflink.datastream") == {"yes": 59 - 2, "out": 2, "missing": 0}
    assert pyflink_names.counts("pyflink.common") == {"yes": 27 - 4, "out": 4, "missing": 0}


def test_out_of_scope_list_is_exact():
    every = {n for names in MODULES.values() for n in names}
    assert set(OUT_OF_SCOPE) <= every, "stale out-of-scope names"
    assert all(reason.strip() for reason in OUT_OF_SCOPE.values())
    offered = {n for m in MODULES for n in getattr(pyflink_names.headwater_module(m),
                                                   "__all__", [])}
    assert not offered & set(OUT_OF_SCOPE), "an out-of-scope name is offered after all"


def pyflink_submodules():
    for info in pkgutil.walk_packages(headwater.pyflink.__path__, "headwater.pyflink."):
        if info.name.endswith(".table") or info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        yield importlib.import_module(info.name)


def test_every_exported_name_is_headwater_api_s_object():
    for module in pyflink_submodules():
        assert module.__all__, module.__name__
        for name in module.__all__:
            assert getattr(module, name) is getattr(headwater.api, name), \
                f"{module.__name__}.{name} is not headwater.api.{name}"


def test_readme_table_is_current():
    assert pyflink_names.readme_block() == pyflink_names.table(), \
        "README's PyFlink names table is stale: run python3 -m tests.pyflink_names"
