"""Dataset modules: one per dataset (find/download, parse, split)."""
