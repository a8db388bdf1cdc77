"""Libri2Mix-style mixtures of LibriSpeech (cnnkit.data.librimix): read from archives that the tests write
in LibriSpeech's exact layout (FLAC at 16 kHz under LibriSpeech/<subset>/<speaker>/<chapter>/), never
downloaded; the splits' speakers disjoint, the mixtures the sum of their sources at 8 kHz, the decoded
speech cached, and damaged archives, files and a missing download refused in one line."""

import io
import json
import tarfile
import warnings

import numpy as np
import pytest

from cnnkit.data import librimix, load_dataset
from cnnkit.data.speech import RATE
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError
from tests.dataset_files import librispeech_flac, write_librispeech_archive

DEV_SPEAKERS = [84, 174, 251, 422, 652, 777, 1272, 1462, 1673, 1919]  # ten: four train, six validate
TEST_SPEAKERS = [61, 121, 237]


@pytest.fixture
def librispeech_folder(tmp_path):
    write_librispeech_archive(tmp_path / "librispeech" / "dev-clean.tar.gz", "dev-clean", DEV_SPEAKERS)
    write_librispeech_archive(tmp_path / "librispeech" / "test-clean.tar.gz", "test-clean", TEST_SPEAKERS, seed=1)
    return tmp_path


def test_mixtures_of_disjoint_speakers_are_the_sum_of_their_sources_at_8_khz(librispeech_folder):
    with pytest.warns(UserWarning, match="not the official file"):  # the tests' archives are not OpenSLR's
        data = load_dataset("libri2mix", batch_size=4, folder=librispeech_folder, download=False)
    assert data.info.input_shape == (32000,) and not data.info.synthetic
    speakers = data.info.provenance["speakers"]
    assert speakers["test"] == TEST_SPEAKERS and len(speakers["validation"]) == librimix.VALIDATION_SPEAKERS
    assert sorted(speakers["train"] + speakers["validation"]) == DEV_SPEAKERS
    mixtures, sources = next(iter(data.test))
    assert mixtures.shape == (4, 32000) and sources.shape == (4, 2, 32000)
    np.testing.assert_allclose(np.asarray(sources).sum(axis=1), mixtures, atol=1e-5)
    assert np.abs(np.asarray(mixtures)).max(axis=1) == pytest.approx(0.9, abs=1e-4)
    # 16 kHz in, 8 kHz out: the buzz's harmonics below 4 kHz survive, the speech fills the 4 s
    spectrum = np.abs(np.fft.rfft(np.asarray(sources)[0, 0]))
    assert spectrum.argmax() * RATE / 32000 < 1000 and (np.abs(np.asarray(sources)[0, 0]) > 0).mean() > 0.99
    # the decoded speech is cached: the archives are not needed again, and the cache records their MD5
    for archive in (librispeech_folder / "librispeech").iterdir():
        archive.unlink()
    again = load_dataset("libri2mix", batch_size=4, folder=librispeech_folder, download=False)
    np.testing.assert_array_equal(next(iter(again.test))[0], mixtures)
    assert len(again.info.provenance["librispeech_md5"]["dev-clean"]) == 32
    json.dumps(again.info.provenance)  # it goes into metrics.json


def test_a_missing_archive_without_downloads_is_one_line_naming_the_official_url(tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset("libri2mix", folder=tmp_path, download=False)
    message = str(caught.value)
    assert "dev-clean.tar.gz" in message and "https://www.openslr.org/resources/12/dev-clean.tar.gz" in message
    assert "\n" not in message


def _archive_with(path, name, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        member = tarfile.TarInfo(name)
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))


@pytest.mark.parametrize(
    "member, data, expected",
    [
        ("dev-clean/84/1084/84-1084-0000.flac", "good", "is not where LibriSpeech keeps its files"),
        ("LibriSpeech/dev-clean/84/1084/84-1084-0000.flac", b"fLaC but not really", "is not a readable FLAC file"),
        ("LibriSpeech/dev-clean/84/1084/84-1084-0000.flac", "8k", "at 8000 Hz"),
    ],
    ids=["outside-the-layout", "not-flac", "wrong-rate"],
)
def test_a_damaged_archive_names_the_file_and_the_problem(tmp_path, member, data, expected):
    import soundfile

    if data == "good":
        data = librispeech_flac(1.0, 100, np.random.default_rng(0))
    elif data == "8k":
        buffer = io.BytesIO()
        soundfile.write(buffer, np.zeros(8000), 8000, format="FLAC")
        data = buffer.getvalue()
    path = tmp_path / "librispeech" / "dev-clean.tar.gz"
    _archive_with(path, member, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(CorruptDatasetError, match=expected) as caught:
            librimix.decoded_speech("dev-clean", tmp_path, download=False)
    assert member in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "librispeech_8k").exists() or not any((tmp_path / "librispeech_8k").iterdir())


def test_a_truncated_archive_is_refused_and_no_cache_is_left(tmp_path):
    path = tmp_path / "librispeech" / "dev-clean.tar.gz"
    write_librispeech_archive(path, "dev-clean", DEV_SPEAKERS[:2])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(CorruptDatasetError, match="not a readable .tar.gz archive.*download it again"):
            librimix.decoded_speech("dev-clean", tmp_path, download=False)
    assert not (tmp_path / "librispeech_8k" / "dev-clean.npz").exists()
