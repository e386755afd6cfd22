"""The command line: ``polymagic render|build|status|logs|cancel|list|freeze|rbac``."""

__all__: list[str] = []
