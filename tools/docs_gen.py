"""Generate the tables section of docs/bi-tools.md from the dbt manifest.

Every published model (schemas marts and reporting) has an enforced contract, so its columns,
their types and descriptions are all in target/manifest.json; the grain comes from
`meta.grain`, else a built-in note.

    .venv/bin/python -m tools.docs_gen [--check]
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
PUBLISHED_SCHEMAS = ("marts", "reporting")

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
    "rpt_sessions": "one row per session, with the bot name and version at its start",
    "rpt_session_channels": "one row per session × channel it touched",
    "rpt_engagement_daily": "one row per day × account × bot × channel",
    "rpt_usage_daily": "one row per day × account × bot",
    "rpt_intents_daily": "one row per day × account × bot × bot version × intent",
    "rpt_api_calls": "one row per API call",
    "rpt_kpis_daily": "one row per KPI × day × account × bot × channel",
    "dim_bots": "one row per bot",
    "dim_bot_versions": "one row per bot × period of a (name, version) pair",
    "fct_impressions": "one row per impression (page load with the messenger)",
    "agg_impressions_daily": "one row per day × account × bot × page",
    "agg_engagement_daily": "one row per day × account × bot × channel",
    "agg_intents_daily": "one row per day × account × bot × bot version × intent",
    "agg_api_calls_daily": "one row per day × account × bot × API",
    "agg_usage_daily": "one row per day × account × bot",
    "agg_kpis_daily": "one row per KPI × day × account × bot × channel",
    "agg_kpis_monthly": "one row per KPI × month × account × bot × channel",
}


def _published_nodes(manifest: dict) -> list[dict]:
    nodes = [
        n
        for n in manifest["nodes"].values()
        if n.get("resource_type") == "model" and n.get("schema") in PUBLISHED_SCHEMAS
    ]
    return sorted(nodes, key=lambda n: (PUBLISHED_SCHEMAS.index(n["schema"]), n["name"]))


def _description(node: dict) -> str:
    if node.get("description"):
        return " ".join(node["description"].split())
    m = re.search(r"\{#-?(.*?)-?#\}", node.get("raw_code", ""), re.S)
    return " ".join(m.group(1).split()) if m else ""


def render(manifest: dict) -> str:
    lines = [BEGIN, ""]
    for node in _published_nodes(manifest):
        name, schema = node["name"], node["schema"]
        grain = (
            (node.get("meta") or {}).get("grain")
            or (node.get("config", {}).get("meta") or {}).get("grain")
            or GRAIN.get(name, "see description")
        )
        lines += [f"### `{schema}.{name}`", "", f"*Grain:* {grain}.", ""]
        if _description(node):
            lines += [_description(node), ""]
        columns = list((node.get("columns") or {}).values())
        if columns:
            lines.append("| column | type | description |")
            lines.append("|---|---|---|")
            for col in columns:
                desc = " ".join((col.get("description") or "").split()).replace("|", "/")
                lines.append(f"| `{col['name']}` | {col.get('data_type') or ''} | {desc} |")
            lines.append("")
    lines.append(END)
    return "\n".join(lines)


def update(doc: Path, generated: str) -> str:
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + generated + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=str(settings.PROJECT_ROOT / "target"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc is out of date")
    args = parser.parse_args(argv)
    manifest = json.loads((Path(args.target) / "manifest.json").read_text())
    new = update(DOC, render(manifest))
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
