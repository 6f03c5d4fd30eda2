"""Safe YAML reading that remembers the line of every key and list item."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when it is there

Loc = tuple[str | int, ...]


@dataclass
class Document:
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)  # path of keys/indexes -> 1-based line
    duplicate_keys: list[tuple[Loc, int, int]] = field(default_factory=list)  # (loc, line, first)

    def line(self, loc: Loc, default: int) -> int:
        """The line of ``loc``, or of its nearest ancestor that has one."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.lines:
                return self.lines[loc[:end]]
        return default


def read(text: str) -> Document:
    """Parse one YAML document with safe loading only; raises ``yaml.YAMLError``."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None)
        document = Document(loader.construct_document(node))
    finally:
        loader.dispose()
    _walk(node, (), document)
    return document


def _walk(node: yaml.Node, loc: Loc, document: Document) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            child = (*loc, key)
            line = key_node.start_mark.line + 1
            if child in document.lines:
                document.duplicate_keys.append((child, line, document.lines[child]))
                continue
            document.lines[child] = line
            _walk(value_node, child, document)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            document.lines[(*loc, index)] = item.start_mark.line + 1
            _walk(item, (*loc, index), document)
