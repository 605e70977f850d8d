from tests.coordination.place import place

__all__ = ["place"]
