"""Where the tests find the REST spec and Flink's reference answers (kept in the repo)."""

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
SPEC = DATA / "spec" / "rest-api-1.12.json"
REFERENCE = DATA / "flink-1.12.5"
