"""Reading the label files of public datasets, with one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from factory.errors import FactoryError


def read_table(path: Path, *, sep: str = ",", required: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV (or .xls/.xlsx) as strings with stripped headers; checks required columns."""
    try:
        if path.suffix.lower() in (".xls", ".xlsx"):
            df = pd.read_excel(path, dtype=str)
        else:
            try:
                df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
            except UnicodeDecodeError:
                df = pd.read_csv(
                    path, sep=sep, dtype=str, keep_default_na=False, encoding="latin-1"
                )
    except FileNotFoundError:
        raise FactoryError(f"{path}: label file not found") from None
    except (ValueError, OSError, ImportError, pd.errors.ParserError) as exc:
        raise FactoryError(f"{path}: cannot read the label file: {exc}") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df.fillna("")
    for col in df.columns:
        df[col] = df[col].astype(str).str.strip()
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise FactoryError(
            f"{path}: missing column(s) {', '.join(repr(c) for c in missing)}; found "
            f"{', '.join(df.columns)}"
        )
    return df


def files_under(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under `root` (recursive) whose lower-case suffix is in `suffixes`."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)


def rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
