"""The layer every stage builds on: TauTuple schema, ROOT I/O (and the uproot writer speed-up), columns,
input finding, cfg grammar, errors, hashing, and the facts stages share: bin-file names and size lists, bin
edges and axes, the default seed."""
