"""Generate the marts section of docs/bi-tools.md from the dbt docs artifacts.

Descriptions come from target/manifest.json (a model's description, else the leading
`{#- ... -#}` comment of its SQL); grain from `meta.grain` (else a built-in note); columns and
types from target/catalog.json (`botmeter docs` writes it), else from a published warehouse.

    .venv/bin/python -m tools.docs_gen [--published FILE] [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from botmeter import settings

DOC = settings.PROJECT_ROOT / "docs" / "bi-tools.md"
BEGIN = "<!-- BEGIN GENERATED: marts (python -m tools.docs_gen) -->"
END = "<!-- END GENERATED: marts -->"

GRAIN = {
    "fct_sessions": "one row per session (account, bot, customer, session start)",
    "fct_tickets": "one row per ticket",
    "dim_conversations": "one row per conversation",
    "bridge_session_conversations": "one row per session × conversation",
    "bridge_session_channels": "one row per session × channel it touched",
    "agg_sessions_daily": "one row per day × account × bot × channel",
    "agg_sessions_daily_total": "one row per day × account × bot",
    "agg_sessions_monthly": "one row per month × account × bot × channel",
    "agg_sessions_monthly_total": "one row per month × account × bot",
    "rpt_session_usage": "one row per session × conversation (report's underlying data)",
    "rpt_session_explain": "one row per user event, with the reason a session started",
}


def _mart_nodes(manifest: dict) -> list[dict]:
    nodes = [
        n
        for n in manifest["nodes"].values()
        if n.get("resource_type") == "model" and n.get("schema", "").endswith("marts")
    ]
    return sorted(nodes, key=lambda n: n["name"])


def _description(node: dict) -> str:
    if node.get("description"):
        return " ".join(node["description"].split())
    m = re.search(r"\{#-?(.*?)-?#\}", node.get("raw_code", ""), re.S)
    return " ".join(m.group(1).split()) if m else ""


def _columns_from_catalog(catalog: dict, name: str) -> list[tuple[str, str]]:
    for node in catalog.get("nodes", {}).values():
        if node.get("metadata", {}).get("name") == name:
            cols = sorted(node["columns"].values(), key=lambda c: c["index"])
            return [(c["name"], c["type"]) for c in cols]
    return []


def _columns_from_duckdb(path: Path) -> dict[str, list[tuple[str, str]]]:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' order by table_name, ordinal_position"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, col, dtype in rows:
        out.setdefault(table, []).append((col, dtype))
    return out


def render(manifest: dict, catalog: dict | None = None, published: Path | None = None) -> str:
    from_db = _columns_from_duckdb(published) if published else {}
    lines = [BEGIN, ""]
    for node in _mart_nodes(manifest):
        name = node["name"]
        kind = node.get("config", {}).get("materialized", "table")
        cols = (_columns_from_catalog(catalog, name) if catalog else []) or from_db.get(name, [])
        doc_cols = node.get("columns") or {}
        grain = (
            (node.get("meta") or {}).get("grain")
            or (node.get("config", {}).get("meta") or {}).get("grain")
            or GRAIN.get(name, "see description")
        )
        lines.append(f"### `marts.{name}`")
        lines.append("")
        lines.append(
            f"*Grain:* {grain}. *dbt materialization:* {kind}"
            + (" (published as a table)." if kind == "view" else ".")
        )
        lines.append("")
        if _description(node):
            lines += [_description(node), ""]
        if cols:
            lines.append("| column | type | description |")
            lines.append("|---|---|---|")
            for col, dtype in cols:
                desc = " ".join((doc_cols.get(col, {}).get("description") or "").split())
                lines.append(f"| `{col}` | {dtype} | {desc.replace('|', '/')} |")
            lines.append("")
    lines.append(END)
    return "\n".join(lines)


def update(doc: Path, generated: str) -> str:
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + generated + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--published", help="published warehouse for column types (default: catalog.json)"
    )
    parser.add_argument("--target", default=str(settings.PROJECT_ROOT / "target"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc is out of date")
    args = parser.parse_args(argv)
    target = Path(args.target)
    manifest = json.loads((target / "manifest.json").read_text())
    catalog_path = target / "catalog.json"
    catalog = (
        json.loads(catalog_path.read_text())
        if catalog_path.exists() and not args.published
        else None
    )
    new = update(DOC, render(manifest, catalog, Path(args.published) if args.published else None))
    if args.check:
        if new != DOC.read_text(encoding="utf-8"):
            print(f"{DOC} is out of date: run python -m tools.docs_gen", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    print(f"updated {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
