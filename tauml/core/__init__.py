"""The layer every stage builds on: TauTuple schema, ROOT I/O, cfg grammar, errors, hashing."""
