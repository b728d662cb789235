"""What python-calamine does not tell about a worksheet, read from its XML in one cheap pass.

calamine gives an error cell (`<c t="e"><v>#DIV/0!</v></c>`) and a formula with no
saved value (`<c><f>A2*2</f></c>`, as written by programs that do not calculate) as
an empty string: the same as a blank cell, which bulkcc reads as "leave unchanged".
It also builds the whole rectangle from A1 to the last cell in memory, so one value
typed in XFD1048576 would ask for 17 billion cells. This module scans the sheet's
XML bytes (not a DOM: fast searches for the few markers that matter, then a close
look at each hit) for:

- the cells that show an error or hold a formula never computed (by Excel ref);
- the hidden rows and columns (`hidden="1"`, or a height / width of 0);
- the extent of the cells that hold something, so a sheet too large to lay out is
  refused before calamine lays it out;
- and, from workbook.xml, whether the sheet itself is hidden.

On bench/bench_validate.py's 10,000 x 100 workbook (6.7 MB of XML) the pass costs
about 50 ms of the ~0.3 s validation: the decompression and a search per marker.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from html import unescape

from defusedxml import ElementTree

_REF = re.compile(rb"([A-Z]{1,3})([0-9]+)")
_ATTR = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_ROOT = re.compile(rb"<(\w+:)?worksheet[\s>]")
_REL_TYPE_DOC = "/officeDocument"
_HIDDEN_ROW_MARKERS = (b'hidden="1"', b'hidden="true"', b"hidden='", b'ht="0', b"ht='0", b"ht=\"-")


@dataclass
class SheetScan:
    """The facts of one sheet's XML; rows are Excel row numbers, columns 0-based positions."""

    bad_cells: dict[tuple[int, int], tuple[str, str | None]] = field(default_factory=dict)  # kind, shown value
    hidden_rows: set[int] = field(default_factory=set)
    # Inclusive 0-based ranges, and whether each is a collapsed outline group (a "+" opens it).
    hidden_columns: list[tuple[int, int, bool]] = field(default_factory=list)
    last_row: int = 0  # of a cell that holds something
    last_column: int = 0  # 1-based

    def column_hidden(self, position: int) -> bool | None:
        """None if the column shows; else whether it is hidden as a collapsed outline group."""
        return next((grouped for low, high, grouped in self.hidden_columns if low <= position <= high), None)


ERROR = "error"  # the cell shows an error value such as #DIV/0!
UNCOMPUTED = "uncomputed"  # a formula with no saved value


def column_number(letters: bytes) -> int:
    number = 0
    for byte in letters:
        number = number * 26 + byte - 64
    return number


def _attrs(tag: bytes) -> dict[bytes, bytes]:
    """The attributes of one start tag, by local name."""
    found = {}
    for name, double, single in _ATTR.findall(tag):
        found[name.rsplit(b":", 1)[-1]] = double if double or not single else single
    return found


def _is_zero(number: bytes | None) -> bool:
    try:
        return number is not None and float(number) == 0
    except ValueError:
        return False


def _row_number(attrs: bytes) -> int | None:
    if attrs.startswith(b'r="'):  # how every writer puts it: first, double-quoted
        end = attrs.find(b'"', 3)
        if attrs[3:end].isdigit():
            return int(attrs[3:end])
    found = re.search(rb"""(?:^|\s)r\s*=\s*["'](\d+)["']""", attrs)
    return int(found.group(1)) if found else None


def _numbered(found: list[int | None]) -> list[int]:
    """Row numbers, a row without one following the one before (as the format says)."""
    numbers: list[int] = []
    for number in found:
        numbers.append(number if number is not None else (numbers[-1] + 1 if numbers else 1))
    return numbers


def _truthy(flag: bytes | None) -> bool:
    return flag in (b"1", b"true")


class _Scanner:
    def __init__(self, data: bytes) -> None:
        self.data = data
        root = _ROOT.search(data, 0, 4096)
        self.p = (root.group(1) or b"") if root else b""
        # Every writer quotes attributes with ", so each marker is one search; a file
        # with any '-quoted attribute near its start gets the searches for both.
        self.quotes = (b'"', b"'") if b"='" in data[:65536] else (b'"',)
        self.scan = SheetScan()

    def run(self) -> SheetScan:
        self._columns()
        self._rows()
        self._errors()
        self._uncomputed()
        return self.scan

    def _columns(self) -> None:
        data, p = self.data, self.p
        end = data.find(b"<" + p + b"sheetData")
        region = data[:end] if end >= 0 else b""
        for match in re.finditer(rb"<" + re.escape(p) + rb"col\s([^>]*)>", region):
            attrs = _attrs(match.group(1))
            if _truthy(attrs.get(b"hidden")) or _is_zero(attrs.get(b"width")):
                try:
                    low, high = int(attrs.get(b"min", b"0")), int(attrs.get(b"max", b"0"))
                except ValueError:
                    continue
                if low >= 1:
                    grouped = attrs.get(b"outlineLevel", b"0") not in (b"", b"0")
                    self.scan.hidden_columns.append((low - 1, max(low, high) - 1, grouped))

    def _cell_start(self, before: int, floor: int = 0) -> int:
        """The start of the `<c` tag of the cell that encloses offset `before`."""
        opener = b"<" + self.p + b"c"
        return max(self.data.rfind(opener + b" ", floor, before), self.data.rfind(opener + b">", floor, before))

    def _rows(self) -> None:
        """The extent (last row and column holding a cell) and the hidden rows.

        One findall takes every row tag (a self-closing `<row/>` has a height but no
        cells, and does not count); the last cell of each row is found by a regex over
        the reversed bytes, where it is the first cell after each `</row>`. Cells and
        rows without an `r` attribute follow the one before, so they cannot reach far:
        the file's size bounds them.
        """
        data, p = self.data, self.p
        # The attributes of every row tag: b"" for <row>, ending in "/" for a self-closing one.
        tags = re.findall(rb"<" + re.escape(p) + rb"row(?=[\s/>])\s*([^>]*)>", data)
        found = [_row_number(attrs) for attrs in tags]
        numbers: list[int] = found if None not in found else _numbered(found)  # type: ignore[assignment]
        closed = [n for n, attrs in zip(numbers, tags, strict=True) if not attrs.endswith(b"/")]
        self.scan.last_row = max(closed, default=0)
        # Reversed: a row's end, its last closed cell's end (a self-closing <c/> holds nothing and
        # calamine skips it), then that cell's start tag and its column letters.
        row_end, cell_end, cell_start = ((b"</" + p + b"row>")[::-1], (b"</" + p + b"c>")[::-1],
                                         (b"<" + p + b"c r=")[::-1])
        last_cells = re.findall(re.escape(row_end) + rb".*?" + re.escape(cell_end)
                                + rb""".*?["'][0-9]+([A-Z]+)["']""" + re.escape(cell_start), data[::-1], re.DOTALL)
        if len(last_cells) == len(closed):  # one per closed row: every writer's layout
            self.scan.last_column = max((column_number(letters[::-1]) for letters in set(last_cells)), default=0)
        else:  # cells without `r`, or with it not first, or empty rows: row by row
            self.scan.last_column = self._widest_row()
        # Searches in the row tags alone first: LibreOffice writes hidden="false" and a height on every row.
        joined = b"\n".join(tags)
        if any(marker in joined for marker in _HIDDEN_ROW_MARKERS):
            for number, attrs in zip(numbers, tags, strict=True):
                named = _attrs(attrs)
                if _truthy(named.get(b"hidden")) or _is_zero(named.get(b"ht")):
                    self.scan.hidden_rows.add(number)

    def _widest_row(self) -> int:
        """The last column of any row, row by row (slower: for layouts the fast path does not know)."""
        data, p = self.data, self.p
        row_tag, close_row, close_cell = b"<" + p + b"row", b"</" + p + b"row>", b"</" + p + b"c>"
        widest, end = 0, data.find(close_row)
        while end >= 0:
            row_at = data.rfind(row_tag, 0, end)
            last = data.rfind(close_cell, row_at, end)  # cells that close hold something; <c/> does not
            if last >= 0:
                widest = max(widest, self._column_of(self._cell_start(last, row_at), row_at))
            end = data.find(close_row, end + 1)
        return widest

    def _column_of(self, start: int, row_start: int) -> int:
        """The 1-based column of the cell whose tag starts at `start` (counted when it has no r)."""
        data = self.data
        tag = data[start:data.find(b">", start) + 1]
        ref = re.search(rb"""\sr\s*=\s*["']([A-Z]{1,3})\d*["']""", tag)
        if ref:
            return column_number(ref.group(1))
        opener = b"<" + self.p + b"c"
        return data.count(opener + b" ", row_start, start) + data.count(opener + b">", row_start, start) + 1

    def _where(self, start: int) -> tuple[int, int]:
        """(Excel row, 0-based column) of the cell whose tag starts at `start`."""
        data, p = self.data, self.p
        tag = data[start:data.find(b">", start) + 1]
        ref = re.search(rb"""\sr\s*=\s*["']([A-Z]{1,3})(\d+)["']""", tag)
        if ref:
            return int(ref.group(2)), column_number(ref.group(1)) - 1
        row_start = max(data.rfind(b"<" + p + b"row ", 0, start), data.rfind(b"<" + p + b"row>", 0, start))
        row_tag = data[row_start:data.find(b">", row_start) + 1]
        found = re.search(rb"""\sr\s*=\s*["'](\d+)["']""", row_tag)
        if found:
            row = int(found.group(1))
        else:  # rows without numbers: count them (rare, and only for a cell already found bad)
            row = data.count(b"<" + p + b"row ", 0, start) + data.count(b"<" + p + b"row>", 0, start)
        return row, self._column_of(start, row_start) - 1

    def _errors(self) -> None:
        data, p = self.data, self.p
        for marker in (b" t=" + q + b"e" + q for q in self.quotes):
            position = data.find(marker)
            while position >= 0:
                start = self._cell_start(position)
                tag_end = data.find(b">", start)
                # The marker must be in the cell's own start tag, not in some text.
                if start >= 0 and position < tag_end and data.rfind(b"<", 0, position) == start:
                    close = data.find(b"</" + p + b"c>", tag_end)
                    empty = data[tag_end - 1:tag_end] == b"/" or close < 0  # <c t="e"/>
                    inner = b"" if empty else data[tag_end + 1:close]
                    value = re.search(rb"<" + re.escape(p) + rb"v>([^<]*)</", inner)
                    shown = unescape(value.group(1).decode("utf-8", "replace")) if value else "#ERROR"
                    self.scan.bad_cells[self._where(start)] = (ERROR, shown)
                position = data.find(marker, position + 1)

    def _uncomputed(self) -> None:
        data, p = self.data, self.p
        if b"</" + p + b"f>" not in data:
            # No formulas: the common case costs one search. (A shared formula's
            # followers are `<f .../>`, but their leader always has a closing </f>.)
            return
        q = re.escape(p)
        # A formula element followed by no <v>, or an empty one, and the end of the cell.
        pattern = re.compile(rb"(?:</" + q + rb"f>|<" + q + rb"f\s[^>]*/>)\s*(<" + q + rb"v\s*/>|<" + q
                             + rb"v>\s*</" + q + rb"v>)?\s*</" + q + rb"c>")
        for match in pattern.finditer(data):
            start = self._cell_start(match.start())
            tag = data[start:data.find(b">", start) + 1]
            kind = _attrs(tag).get(b"t", b"n")
            if match.group(1) and kind in (b"str", b"inlineStr"):
                continue  # a formula whose saved value is the empty string: computed, and blank
            if kind == b"e":
                continue  # already an error cell
            formula = re.search(rb"<" + q + rb"f(?:\s[^>]*)?>([^<]*)</" + q + rb"f>", data[start:match.end()])
            text = "=" + unescape(formula.group(1).decode("utf-8", "replace")) if formula else None
            self.scan.bad_cells[self._where(start)] = (UNCOMPUTED, text)


def scan_sheet_xml(data: bytes) -> SheetScan:
    return _Scanner(data).run()


# ---- finding the sheet in the package -------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _member(zf: zipfile.ZipFile, name: str) -> str | None:
    """The zip member of that name; zip names are compared without case, as Excel does."""
    names = {info.filename.lower(): info.filename for info in zf.infolist()}
    return names.get(name.lstrip("/").lower())


def _relationships(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Id -> (type, target resolved to a zip path) of a part's .rels."""
    folder, base = posixpath.split(part)
    member = _member(zf, posixpath.join(folder, "_rels", base + ".rels"))
    if member is None:
        return {}
    found = {}
    for node in ElementTree.fromstring(zf.read(member)).iter():
        if _local(node.tag) == "Relationship":
            target = node.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            found[node.get("Id", "")] = (node.get("Type", ""), path)
    return found


def locate_sheet(zf: zipfile.ZipFile, sheet_name: str) -> tuple[str | None, bool]:
    """(zip path of the sheet's XML or None, whether the sheet is hidden) for a sheet by name."""
    documents = [t for kind, t in _relationships(zf, "").values() if kind.endswith(_REL_TYPE_DOC)]
    workbook = _member(zf, documents[0] if documents else "xl/workbook.xml")
    if workbook is None:
        return None, False
    relationships = _relationships(zf, workbook)
    for node in ElementTree.fromstring(zf.read(workbook)).iter():
        if _local(node.tag) != "sheet" or node.get("name") != sheet_name:
            continue
        rid = next((v for k, v in node.attrib.items() if _local(k) == "id" and k.startswith("{")), None)
        hidden = node.get("state", "visible") in ("hidden", "veryHidden")
        target = relationships.get(rid or "", ("", ""))[1]
        return _member(zf, target), hidden
    return None, False
