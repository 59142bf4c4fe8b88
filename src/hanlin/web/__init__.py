"""The web console: static HTML/JS/CSS served at / (no build step)."""
