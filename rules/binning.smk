# Rules of the binning stage (see docs/architecture.md).
