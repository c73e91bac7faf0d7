"""Free space in the data folder, measured where the folder will be."""

from __future__ import annotations

from pathlib import Path

from bot.store.disk_space import describe_low_space, free_bytes, human_size


def test_free_space_of_a_folder_not_made_yet_is_its_parents(tmp_path: Path) -> None:
    assert free_bytes(tmp_path / "not" / "yet") == free_bytes(tmp_path)


def test_low_space_warns_only_below_the_threshold(tmp_path: Path) -> None:
    assert describe_low_space(tmp_path, 0) is None
    warning = describe_low_space(tmp_path, 10**18)
    assert warning is not None and "free for Salon's data" in warning and str(tmp_path) in warning


def test_sizes_read_as_people_read_them() -> None:
    assert [human_size(n) for n in (2_000, 412_000_000, 1_500_000_000)] == ["2 KB", "412 MB", "1.5 GB"]
