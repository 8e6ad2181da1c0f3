"""The usage app (`botmeter serve`): Session Usage, its underlying sessions and why each was
counted, and the Usage, Intent, API, KPI and Configuration pages, in a browser.

Why it is built this way:
- every figure comes from botmeter.report.queries, like the CLI report and the dashboard,
  so the three never disagree;
- it reads only the published file, read-only (published.py), so it never blocks a
  pipeline run and shows a new publish without a restart;
- the reader's account is fixed per request before any page runs (tenancy.py) and goes
  into every query, so no URL or parameter reaches another account's data;
- pages are rendered on the server (Starlette + autoescaped Jinja2) and every asset,
  plotly.js included, is served by the app (assets.py): nothing is loaded from elsewhere.
"""

from botmeter.app.application import create_app
from botmeter.app.server import serve

__all__ = ["create_app", "serve"]
