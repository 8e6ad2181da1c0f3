"""Page handlers, one module per part of the app. Handlers are plain functions: Starlette
runs them in its thread pool, so DuckDB queries never block the event loop."""
