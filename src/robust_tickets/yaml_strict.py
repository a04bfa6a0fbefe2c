"""YAML that says what it would otherwise ignore: a key given twice in one mapping is an error
(plain YAML keeps the last one silently, so `eps: 0.1` above `eps: 0.3` would be dropped)."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKey(yaml.MarkedYAMLError):
    """A mapping that names the same key twice."""


class StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise DuplicateKey(
                    problem=f"key {key!r} is given twice", problem_mark=key_node.start_mark
                )
            if isinstance(key, (str, int, float, bool)):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load(text: str) -> Any:
    """`yaml.safe_load`, but a duplicate key raises DuplicateKey (a yaml.YAMLError)."""
    return yaml.load(text, Loader=StrictLoader)  # a SafeLoader: builds no arbitrary objects
