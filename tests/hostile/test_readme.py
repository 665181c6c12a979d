"""The README's hardening table states how many cases each fuzz target tries: keep it true."""

from __future__ import annotations

from tests.hostile.fuzz import FUZZ


def test_the_readme_states_the_fuzz_counts(repo_root):
    text = (repo_root / "README.md").read_text()
    table = text[text.index("What is fuzzed"):]
    table = table[:table.index("\n\n", table.index("| target"))]
    cells = [row.split("|")[3].strip() for row in table.splitlines() if row.startswith("| ") and "---" not in row]
    expected = [f"{FUZZ['links']} per page", f"{FUZZ['links_hostile']} per page", str(FUZZ["formula_text"]),
                f"{FUZZ['formula_grammar']} + {FUZZ['formula_grammar']}", str(FUZZ["csv_bytes"]),
                f"{FUZZ['csv_tables']} + {FUZZ['csv_tables']}", str(FUZZ["checkpoint"]), str(FUZZ["env"]),
                f"{FUZZ['escape']} + {FUZZ['escape']}"]
    assert cells[1:] == expected, cells
