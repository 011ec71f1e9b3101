"""The `inkwell` command: what an operator runs."""
