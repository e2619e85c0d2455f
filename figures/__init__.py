"""Figure scripts: each reads saved run records only (never trains) and writes PNG + PDF."""
