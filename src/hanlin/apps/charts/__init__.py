"""Charts from table contents (Vega-Lite, rendered by vl-convert)."""
