"""Engine domain: entities and rules in plain Python (no grpc, SQLAlchemy or Django imports)."""
