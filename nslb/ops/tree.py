"""A text tree for the terminal, as `tree` or `systemctl status` draw them: the human output
of `nslb trace` and `nslb doctor`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    label: str
    children: list[Node] = field(default_factory=list)

    def add(self, label: str) -> Node:
        child = Node(label)
        self.children.append(child)
        return child


def render(root: Node) -> str:
    lines = [root.label]
    _children(root, "", lines)
    return "\n".join(lines)


def _children(node: Node, prefix: str, lines: list[str]) -> None:
    for i, child in enumerate(node.children):
        last = i == len(node.children) - 1
        head, rest = label_lines(child.label)
        lines.append(f"{prefix}{'└── ' if last else '├── '}{head}")
        deeper = prefix + ("    " if last else "│   ")
        lines.extend(f"{deeper}{line}" for line in rest)
        _children(child, deeper, lines)


def label_lines(label: str) -> tuple[str, list[str]]:
    head, *rest = label.split("\n")
    return head, rest
