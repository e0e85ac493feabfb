"""On-disk state of an evaluation: one JSONL line per finished sample, plus the run's manifest.

Every sample is appended (and fsynced) the moment it finishes, so a crash or Ctrl-C loses at most the
samples in flight. On resume the last record of each (problem, mode, sample) wins: `ok` ones are never
run again, `failed` ones are retried. A manifest pins what must not change between resumed parts of
one run (dataset, prompt, sampling, budget, seeds), so results of different setups never mix.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from relaychat.core.events import Mode, RunSummary

SampleKey = tuple[str, str, int]  # (problem id, mode, sample index)
SAMPLES_FILE = "samples.jsonl"
MANIFEST_FILE = "run.json"


class SampleRecord(BaseModel):
    problem_id: str
    mode: Mode
    sample: int
    seed: int
    status: Literal["ok", "failed"]
    attempts: int = 1
    error: str | None = None
    retry_after_s: float | None = Field(default=None, description="how long a busy server asked to wait")
    reference: str = ""
    correct: bool | None = None  # None when the sample failed: never a silent "wrong"
    extracted: str | None = None
    grade_source: str = "none"
    trace: str | None = Field(None, description="event trace, relative to the run folder")
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    summary: RunSummary | None = None

    @property
    def key(self) -> SampleKey:
        return (self.problem_id, self.mode, self.sample)

    @property
    def tpot_s(self) -> float | None:
        """Time per output token after the first, as the user saw it (switch gaps included)."""
        s = self.summary
        if s is None or s.ttft_s is None or s.total_tokens < 2:
            return None
        return (s.wall_s - s.ttft_s) / (s.total_tokens - 1)


class ManifestMismatch(ValueError):
    pass


class ResultStore:
    """The run folder: samples.jsonl, run.json and traces/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.samples_path = folder / SAMPLES_FILE
        self.manifest_path = folder / MANIFEST_FILE
        self.traces = folder / "traces"
        self.skipped_lines = 0

    def prepare(self, manifest: dict[str, Any]) -> None:
        """Create the folder, or check that an existing run was made with the same setup."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.traces.mkdir(exist_ok=True)
        if self.manifest_path.is_file():
            old = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            changed = [k for k in manifest if k in old and old[k] != manifest[k]]
            if changed:
                raise ManifestMismatch(
                    f"{self.folder} holds a run with a different {', '.join(changed)}; "
                    "use another --out folder (or delete that one) to start afresh"
                )
            return
        self.manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.is_file():
            return {}
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def append(self, record: SampleRecord) -> None:
        with self.samples_path.open("a", encoding="utf-8") as handle:
            handle.write(record.model_dump_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def load(self) -> dict[SampleKey, SampleRecord]:
        """The latest record per sample; a line cut short by a crash is skipped, not fatal."""
        latest: dict[SampleKey, SampleRecord] = {}
        self.skipped_lines = 0
        if not self.samples_path.is_file():
            return latest
        with self.samples_path.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    record = SampleRecord.model_validate_json(line)
                except ValidationError:
                    self.skipped_lines += 1
                    continue
                latest[record.key] = record
        return latest

    def trace_path(self, key: SampleKey) -> Path:
        problem, mode, sample = key
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in problem)
        return self.traces / f"{safe}__{mode}__s{sample}.jsonl"
