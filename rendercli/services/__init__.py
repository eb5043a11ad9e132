"""The service layer: every business rule, ownership check and transaction.

Services take primitives and a UnitOfWork, and return plain view dataclasses. They
never import Typer or rich; the CLI and the worker both call them.
"""
