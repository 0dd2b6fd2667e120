"""The paper's analyses as pure functions on populations' arrays (no file access)."""
