# Tuple production: raw/{dataset}/eventTuple_{job}.root (see docs/architecture.md).
