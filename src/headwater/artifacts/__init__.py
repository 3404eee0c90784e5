"""Job artifacts ("jars"): storage, inspection, running their programs.

A job artifact is a ``.py`` file or a zip (``.zip``, ``.pyz`` or a ``.jar``-named zip) of
Python modules, optionally with a ``requirements.txt`` (reported, never installed). Its
program's ``main`` builds a job; :mod:`headwater.artifacts.extraction` runs it in a
separate process whose ``execute()`` hands the job graph back instead of running it.
"""
