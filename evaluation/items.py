"""What every reader returns: the items it could read and, for each malformed one, an error naming it."""

from dataclasses import dataclass, field


@dataclass
class ReadResult:
    items: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "<file>: <field>: <what is wrong>", one per bad item


class ItemError(ValueError):
    """One dataset item is malformed; the message names the file and the field."""

    def __init__(self, path, field_name: str, problem: str):
        super().__init__(f"{path}: {field_name}: {problem}")


def split_folder(root, split: str | None):
    """The split's folder (ROOT/<split>) when the dataset keeps splits in subfolders, else ROOT itself."""
    from pathlib import Path

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    if split:
        if (root / split).is_dir():
            return root / split
        raise FileNotFoundError(f"{root} has no '{split}' folder (the split asked for with --split)")
    return root
