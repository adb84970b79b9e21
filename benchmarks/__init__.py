"""Performance and accuracy measurements: each writes JSON and prints a table."""
