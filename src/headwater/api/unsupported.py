"""PyFlink methods headwater does not have, and their errors: the Table API (headwater
runs DataStream programs only) and what loads Java classes or jars (headwater has no JVM).
Calling one raises ``NotImplementedError`` naming the method and why.
"""

from __future__ import annotations

from typing import NoReturn

#: Methods of PyFlink's Table API that a DataStream program may reach for.
TABLE_API_ONLY = frozenset({
    "create_temporary_view", "create_temporary_table", "create_table", "execute_sql",
    "sql_query", "from_path", "from_elements", "from_data_stream", "to_data_stream",
    "from_changelog_stream", "to_changelog_stream", "to_append_stream",
    "to_retract_stream", "to_table", "create_statement_set", "get_table_config",
    "create_temporary_function", "create_temporary_system_function", "register_function",
    "use_catalog", "use_database", "list_tables", "to_pandas", "from_pandas",
})

#: Methods of PyFlink that load Java classes or jars.
JVM_ONLY = frozenset({
    "add_jars", "add_classpaths", "create_input", "add_default_kryo_serializer",
    "register_type_with_kryo_serializer", "register_type",
})

#: PyFlink methods headwater does not have yet, and why.
NOT_YET: dict[str, str] = {
    "add_python_archive": "archives are not shipped yet; add_python_file ships modules, "
                          "packages and zips",
    "set_python_executable": "TaskManagers run the Python that runs headwater",
    "register_cached_file": "the distributed cache is not supported yet; read files by a "
                            "path or URL every TaskManager can reach",
}


def unsupported(owner: str, name: str) -> NoReturn:
    """Raise the error of a PyFlink method headwater does not have (Table API, JVM)."""
    if name in NOT_YET:
        raise NotImplementedError(f"{owner}.{name}() is not supported: {NOT_YET[name]}")
    if name in TABLE_API_ONLY:
        raise NotImplementedError(
            f"{owner}.{name}() belongs to PyFlink's Table API, which headwater does not "
            "have: headwater runs DataStream programs only (write the logic as DataStream "
            "operations, e.g. map/key_by/window)")
    raise NotImplementedError(
        f"{owner}.{name}() loads Java classes or jars; headwater is pure Python and has no "
        "JVM (use a Python source, sink or library instead)")
