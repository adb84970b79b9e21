"""The spoken-digits benchmark, `python -m benchmarks.digits` (its docstring says what each part
measures): accuracy, leave-one-speaker-out, training and input-pipeline speed.

Modules: `__main__` (the flags, the parts in order, the merged JSON results file),
`pipeline`, `throughput`, `accuracy` (the configs part) and `report` (the Markdown table).
"""
