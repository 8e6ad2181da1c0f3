"""Data-quality checks of landed raw batches (great-expectations); every other rule is a
dbt test."""
