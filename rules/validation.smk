# Rules of the validation stage (see docs/architecture.md).
