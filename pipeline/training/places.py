"""Where one run's files live in the run storage (:mod:`pipeline.cluster.storage`), whichever node writes them."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.cluster.storage import StoragePath


@dataclass(frozen=True)
class RunPlaces:
    """The storage folders of run ``name`` under ``root`` (the storage, or a sweep trial's own folder in it)."""

    root: StoragePath
    name: str

    @property
    def ray(self) -> StoragePath:
        """Ray Train's ``storage_path``: its run folder is ``ray/<name>``, with ``checkpoint_*`` inside."""
        return self.root / "ray"

    @property
    def run_folder(self) -> StoragePath:
        return self.ray / self.name

    @property
    def resume(self) -> StoragePath:
        """An interrupted run's latest checkpoint, copied out of Ray's run folder (which a new run clears)."""
        return self.root / "resume" / self.name

    @property
    def superseded(self) -> StoragePath:
        """Checkpoints of this run's earlier settings, moved aside when a run of new settings starts."""
        return self.root / "superseded" / self.name

    @property
    def outputs(self) -> StoragePath:
        """A finished run's exported files (``runs/<dataset>/<variant>/seed<k>/``) until the driver collects them."""
        return self.root / "outputs" / self.name

    @property
    def spool(self) -> StoragePath:
        """Metric rows a tracking outage held back (read again by whichever node resumes the run)."""
        return self.root / "spool" / f"{self.name}.jsonl"

    @property
    def fault_marker(self) -> StoragePath:
        return self.root / "faults" / self.name

    def clear(self) -> None:
        """A finished run leaves nothing to resume."""
        for folder in (self.run_folder, self.resume):
            folder.rmtree()
