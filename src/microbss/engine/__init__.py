"""The microbss charging engine: subscribers, inventory, catalog, balances, vouchers, billing.

Layers: ``domain`` (plain Python rules), ``storage`` (SQLAlchemy + Alembic), ``services`` (use cases
run inside a unit of work), ``api`` (gRPC servicers), ``jobs`` (batch work), ``cli``.
"""
