# Rules of the spectral stage (see docs/architecture.md).
