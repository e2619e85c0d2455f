"""Scripts that measure numbers of the README's Known discrepancies that no sim produces."""
