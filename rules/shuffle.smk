# Rules of the shuffle stage (see docs/architecture.md).
