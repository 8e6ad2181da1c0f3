"""The KPI configuration file as the Configuration page shows and edits it.

The YAML text is edited as text, so the file's comments (its documentation) survive an
edit. It is checked with the pipeline's own validation (botmeter.settings), the error is
placed on the line of the field it names, and a save replaces the file atomically (a temp
file in the same folder, then os.replace) after keeping the previous version beside it as
`<name>.<UTC time>.bak`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import tempfile
import threading
from pathlib import Path

import yaml

from botmeter.settings import KpiConfig, KpiConfigError, KpiPart, validate_kpi_config

MAX_BYTES = 256 * 1024
_SAVE_LOCK = threading.Lock()


class SaveConflict(Exception):
    """The file changed since the form was opened: saving would lose that change."""


@dataclasses.dataclass
class Problem:
    message: str
    kpi: str | None = None
    field: str | None = None
    line: int | None = None  # 1-based line of the field in the text


@dataclasses.dataclass
class Checked:
    text: str
    config: KpiConfig | None
    problem: Problem | None


@dataclasses.dataclass
class Changes:
    added: list[str]
    removed: list[str]
    recomputed: list[str]  # what a unit counts changed
    relabelled: list[str]  # only the description or grain changed

    @property
    def any(self) -> bool:
        return bool(self.added or self.removed or self.recomputed or self.relabelled)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read(path: Path) -> str:
    return Path(path).read_text(encoding="utf-8")


def normalise(text: str) -> str:
    """Browsers send textarea lines with CRLF; the file keeps LF and a final newline."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def check(text: str, source: str = "<edit>") -> Checked:
    if len(text.encode("utf-8")) > MAX_BYTES:
        return Checked(text, None, Problem(f"the file is larger than {MAX_BYTES // 1024} KiB"))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        return Checked(text, None, Problem(f"not valid YAML: {what}", line=line))
    try:
        return Checked(text, validate_kpi_config(data, source=source), None)
    except KpiConfigError as exc:
        line = locate(text, exc.kpi, exc.field)
        return Checked(text, None, Problem(str(exc), exc.kpi, exc.field, line))


def _mapping_get(node, key: str):
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k, v
    return None


def locate(text: str, kpi: str | None, field: str | None) -> int | None:
    """The line of `field` of KPI `kpi` (a name or `kpis[i]`), or the nearest line found."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if root is None:
        return None
    line = root.start_mark.line
    node = root
    if kpi is not None:
        found = _mapping_get(root, "kpis")
        if found is None or not isinstance(found[1], yaml.SequenceNode):
            return line + 1
        line, items = found[0].start_mark.line, found[1].value
        node = None
        if kpi.startswith("kpis[") and kpi[5:-1].isdigit():
            index = int(kpi[5:-1])
            node = items[index] if index < len(items) else None
        else:
            for item in items:
                name = _mapping_get(item, "name")
                if name is not None and getattr(name[1], "value", None) == kpi:
                    node = item
                    break
        if node is None:
            return line + 1
        line = node.start_mark.line
    for part in (field or "").replace("[", ".").replace("]", "").split("."):
        if not part:
            continue
        if isinstance(node, yaml.SequenceNode) and part.isdigit():
            index = int(part)
            if index >= len(node.value):
                break
            node = node.value[index]
            line = node.start_mark.line
            continue
        found = _mapping_get(node, part)
        if found is None:
            break
        line, node = found[0].start_mark.line, found[1]
    return line + 1


def _definition(kpi) -> list:
    return [[name, part.canonical()] for name, part in kpi.parts()]


def diff(old: KpiConfig | None, new: KpiConfig) -> Changes:
    before = old.by_name() if old is not None else {}
    after = new.by_name()
    changes = Changes(
        added=[n for n in after if n not in before],
        removed=[n for n in before if n not in after],
        recomputed=[],
        relabelled=[],
    )
    for name, kpi in after.items():
        if name not in before:
            continue
        if _definition(kpi) != _definition(before[name]):
            changes.recomputed.append(name)
        elif (kpi.description, kpi.grain) != (before[name].description, before[name].grain):
            changes.relabelled.append(name)
    return changes


def backup_path(path: Path, now: dt.datetime | None = None) -> Path:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.{stamp}.bak")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{stamp}-{n}.bak")
    return candidate


def _write_synced(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def save(path: Path, text: str, base_digest: str) -> Path:
    """Replace the file with `text` if it still is the version the editor started from;
    returns the backup of the previous version."""
    path = Path(path).resolve()
    with _SAVE_LOCK:
        current = path.read_bytes()
        if hashlib.sha256(current).hexdigest() != base_digest:
            raise SaveConflict(f"{path.name} changed since you opened it")
        mode = path.stat().st_mode & 0o7777
        backup = backup_path(path)
        fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        _write_synced(fd, current)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            _write_synced(fd, text.encode("utf-8"))
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        try:
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:
            pass
    return backup


def _clause(clause) -> str:
    parts = []
    if clause.event_type:
        parts.append("event type " + " or ".join(clause.event_type))
    if clause.kpi_name:
        parts.append("kpi_name " + " or ".join(clause.kpi_name))
    for key, values in (clause.properties or {}).items():
        parts.append(f"{key} = " + " or ".join(values))
    return " and ".join(parts)


def describe_part(part: KpiPart | None) -> str:
    """`sessions with event type ticket_created` — a part in words, for the summary table."""
    if part is None:
        return "–"
    text = part.count
    if part.where is not None:
        text += " with " + _clause(part.where)
    if part.without is not None:
        text += " without " + _clause(part.without)
    return text
