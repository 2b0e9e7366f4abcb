"""Voucher administration: list, withdraw and restore vouchers through the engine."""
