"""Use cases of the engine. Each validates its input, runs one UnitOfWork, writes its audit row
and returns domain objects; the API servicers and the CLI are thin callers of these."""
