"""Libri2Mix-style two-speaker mixtures of real read speech (LibriSpeech), Conv-TasNet's full-mode set.

LibriSpeech (Panayotov, Chen, Povey and Khudanpur, ICASSP 2015; CC BY 4.0) is English read from LibriVox
audiobooks, 16 kHz. LibriMix (Cosentino et al. 2020, arXiv:2005.11262; github.com/JorisCos/LibriMix) mixes
its utterances into an open alternative to WSJ0-2mix, which is sold by the LDC. This module builds clean
two-speaker mixtures in that spirit from LibriSpeech's two smallest official archives, downloaded once
from OpenSLR (resource 12) and checked against the MD5 sums OpenSLR publishes:

- ``dev-clean.tar.gz`` (337 MB, 40 speakers): training and validation, the speakers split 34 / 6;
- ``test-clean.tar.gz`` (346 MB, 40 other speakers): the test set, as in Libri2Mix.

So the three splits have disjoint speakers. Every FLAC file is decoded from the archive in memory
(``soundfile``; nothing is extracted, so no path inside an archive can write anywhere), resampled from 16
to 8 kHz (scipy's polyphase ``resample_poly``, LibriMix's "8k" version) and scaled to a common RMS; each
speaker's utterances are put back to back and cached as ``librispeech_8k/<archive>.npz`` (float16) in the
data folder, written atomically: a run killed while decoding decodes again, a later one reads the cache.
The mixtures are then made as the synthetic set's are (:func:`cnnkit.data.speech.mixture_splits`): 4 s
of each of two different speakers, the second at a random relative level in [-5, 5] dB, the pair scaled
so that the mixture peaks at 0.9.

What differs from the official recipe, and why:

- Libri2Mix trains on train-clean-100 and train-clean-360 (6.3 + 23 GB, about 1,170 speakers); this set
  trains on dev-clean's 34 speakers, to keep the download under 700 MB, so its networks hear far fewer
  voices.
- The recipe sets every utterance to a random loudness from -25 to -33 LUFS (pyloudnorm) and pairs whole
  utterances from fixed metadata files, both cut to the shorter one ("min" mode); here the levels are
  RMS-based and each mixture is a random 4-second stretch of each speaker's speech, drawn from the seed
  (Conv-TasNet trains on 4-second segments either way).
- Clean mixtures only (no WHAM! noise).
"""

from __future__ import annotations

import io
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from cnnkit.data.image_files import OfficialFile, locate, warn_if_unofficial
from cnnkit.data.speech import RATE
from cnnkit.errors import CorruptDatasetError
from cnnkit.files import atomic_path, data_dir, file_hash

SOURCE_RATE = 16_000  # Hz, LibriSpeech's
URL = "https://www.openslr.org/resources/12/"
# The MD5 sums OpenSLR lists beside the archives (openslr.org/12, md5sum.txt).
ARCHIVES = {
    "dev-clean": OfficialFile("librispeech/dev-clean.tar.gz", URL + "dev-clean.tar.gz", "md5",
                              "42e2234ba48799c1f50f24a7926300a1"),
    "test-clean": OfficialFile("librispeech/test-clean.tar.gz", URL + "test-clean.tar.gz", "md5",
                               "32fa31d27d2e1cad72775fee3f4849a9"),
}  # fmt: skip
VALIDATION_SPEAKERS = 6  # of dev-clean's 40; the other 34 train
SPEAKER_SPLIT_SEED = 0
TARGET_RMS = 0.05  # every utterance is scaled to this RMS before the relative levels are drawn
MIXTURES = {"train": 10_000, "validation": 1_000, "test": 3_000}  # test: Libri2Mix's own test size
MAX_MEMBER_BYTES = 16 << 20  # LibriSpeech's longest utterance (35 s) is under 1.5 MB of FLAC
MAX_UTTERANCE_SECONDS = 60


class AudioReaderMissingError(ImportError):
    """``soundfile`` (which reads FLAC) is not installed (``pip install "cnnkit[speech]"``)."""


def _soundfile():
    try:
        import soundfile
    except ImportError as error:
        raise AudioReaderMissingError(
            'LibriSpeech\'s FLAC files need soundfile: pip install "cnnkit[speech]".'
        ) from error
    return soundfile


def decode_utterance(data: bytes, where: str) -> np.ndarray:
    """One LibriSpeech FLAC file's bytes as float32 ``(samples,)`` at :data:`RATE` Hz, RMS
    :data:`TARGET_RMS`. Its header is checked before anything is decoded (16 kHz, one channel, at most
    :data:`MAX_UTTERANCE_SECONDS`); ``where`` names the file in the errors."""
    from scipy.signal import resample_poly

    soundfile = _soundfile()
    try:
        info = soundfile.info(io.BytesIO(data))
        if info.samplerate != SOURCE_RATE or info.channels != 1:
            raise CorruptDatasetError(f"{where} holds {info.channels} channel(s) at {info.samplerate} Hz; "
                                      f"LibriSpeech's files are one channel at {SOURCE_RATE} Hz.")  # fmt: skip
        if info.frames > MAX_UTTERANCE_SECONDS * SOURCE_RATE:
            raise CorruptDatasetError(f"{where} declares {info.frames / SOURCE_RATE:,.0f} s, longer than any "
                                      f"LibriSpeech utterance (at most {MAX_UTTERANCE_SECONDS} s).")  # fmt: skip
        audio, _ = soundfile.read(io.BytesIO(data), dtype="float32")
    except soundfile.SoundFileError as error:
        raise CorruptDatasetError(f"{where} is not a readable FLAC file ({error}).") from None
    audio = resample_poly(audio, RATE, SOURCE_RATE).astype("float32")
    rms = float(np.sqrt(np.mean(np.square(audio, dtype="float64")))) if len(audio) else 0.0
    if rms == 0.0:
        raise CorruptDatasetError(f"{where} is silent: every sample is 0.")
    return audio * np.float32(TARGET_RMS / rms)


def read_librispeech_archive(path: Path) -> dict[int, np.ndarray]:
    """``{speaker id: float32 (samples,)}``: each speaker's utterances of a LibriSpeech archive, in the
    order of their names, decoded (:func:`decode_utterance`) and put back to back. Members must lie at
    ``LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utterance>.flac``; the transcripts and
    the other text files are not needed."""
    utterances: dict[int, list] = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if not member.isfile() or not member.name.endswith(".flac"):
                    continue
                parts = PurePosixPath(member.name).parts
                if len(parts) != 5 or parts[0] != "LibriSpeech" or not parts[2].isdigit():
                    raise CorruptDatasetError(f"{path}: {member.name} is not where LibriSpeech keeps its files "
                                              "(LibriSpeech/<subset>/<speaker>/<chapter>/<file>.flac).")  # fmt: skip
                if member.size > MAX_MEMBER_BYTES:
                    raise CorruptDatasetError(f"{path}: {member.name} declares {member.size:,} bytes, more than "
                                              "any LibriSpeech utterance.")  # fmt: skip
                audio = decode_utterance(archive.extractfile(member).read(), f"{path}: {member.name}")
                utterances.setdefault(int(parts[2]), []).append((member.name, audio))
    except (OSError, tarfile.TarError, EOFError, zlib.error) as error:
        raise CorruptDatasetError(f"{path} is not a readable .tar.gz archive ({error}); delete it and download "
                                  "it again.") from None  # fmt: skip
    if len(utterances) < 2:
        raise CorruptDatasetError(f"{path} holds FLAC files of {len(utterances)} speaker(s); a mixture needs two.")
    return {speaker: np.concatenate([audio for _, audio in sorted(found, key=lambda pair: pair[0])])
            for speaker, found in sorted(utterances.items())}  # fmt: skip


def decoded_speech(subset: str, folder: Path, download: bool) -> tuple[dict[int, np.ndarray], str]:
    """``({speaker id: float32 (samples,)}, the archive's MD5)`` of one archive (``"dev-clean"`` or
    ``"test-clean"``) at 8 kHz: from the cache when it is there, else read from the archive (downloaded
    when allowed) and cached."""
    cache = folder / "librispeech_8k" / f"{subset}.npz"
    if not cache.is_file():
        official = ARCHIVES[subset]
        archive, downloaded = locate(official, folder, download)
        if not downloaded:
            warn_if_unofficial(archive, official)
        print(f"Decoding {archive} (LibriSpeech {subset}) to 8 kHz, once; it is cached in {cache.parent}.")
        speakers = read_librispeech_archive(archive)
        buffer = io.BytesIO()
        np.savez(buffer, speakers=np.asarray(list(speakers), "int64"), archive_md5=file_hash(archive, "md5"),
                 **{f"speaker_{k}": audio.astype("float16") for k, audio in speakers.items()})  # fmt: skip
        with atomic_path(cache) as temporary:
            temporary.write_bytes(buffer.getvalue())
    try:
        with np.load(cache, allow_pickle=False) as stored:
            speech = {int(k): stored[f"speaker_{k}"].astype("float32") for k in stored["speakers"]}
            return speech, str(stored["archive_md5"])
    except (OSError, ValueError, KeyError, zlib.error) as error:
        raise CorruptDatasetError(f"{cache} is unusable ({type(error).__name__}: {error}); delete it and it is "
                                  "decoded again from the archive.") from None  # fmt: skip


def speaker_splits(dev: dict[int, np.ndarray], test: dict[int, np.ndarray]) -> dict[str, list[int]]:
    """Which speakers make each split: :data:`VALIDATION_SPEAKERS` of dev-clean's, drawn from
    :data:`SPEAKER_SPLIT_SEED`, validate; the rest train; all of test-clean's test."""
    speakers = sorted(dev)
    if len(speakers) < VALIDATION_SPEAKERS + 2:
        raise CorruptDatasetError(f"dev-clean holds {len(speakers)} speakers; this split needs at least "
                                  f"{VALIDATION_SPEAKERS + 2} (LibriSpeech's has 40).")  # fmt: skip
    held_out = np.random.default_rng(SPEAKER_SPLIT_SEED).choice(len(speakers), VALIDATION_SPEAKERS, replace=False)
    validation = sorted(speakers[i] for i in held_out)
    return {"train": [s for s in speakers if s not in validation], "validation": validation, "test": sorted(test)}


def load_librimix_dataset(name: str = "libri2mix", *, batch_size: int = 8, seed: int = 0, folder=None,
                          download: bool = True):  # fmt: skip
    """Two-speaker mixtures of LibriSpeech as train / validation / test pipelines of ``(mixtures, sources)``
    batches, float32 ``(batch, 32000)`` and ``(batch, 2, 32000)``: 4 s at 8 kHz, :data:`MIXTURES` per split
    (the training split reshuffled every epoch). ``folder``: the data folder (default ``$CNNKIT_DATA`` or
    the checkout's ``data/``); ``download``: fetch a missing archive (683 MB in all) when allowed."""
    from cnnkit.data.base import Dataset, DatasetInfo
    from cnnkit.data.registry import DATASETS
    from cnnkit.data.speech import SECONDS, back_to_back, mixture_splits

    folder = Path(folder) if folder is not None else data_dir()
    (dev, dev_md5), (test, test_md5) = (decoded_speech(subset, folder, download) for subset in ARCHIVES)
    speakers, pools = speaker_splits(dev, test), {}
    for split, chosen in speakers.items():
        speech = test if split == "test" else dev
        too_short = [f"{s} ({len(speech[s]) / RATE:.1f} s)" for s in chosen if len(speech[s]) < SECONDS * RATE]
        if too_short:
            raise CorruptDatasetError(f"speakers with less than {SECONDS:g} s of speech cannot be mixed: "
                                      f"{', '.join(too_short)}.")  # fmt: skip
        pools[split] = back_to_back([speech[s] for s in chosen])
    made_from = {"librispeech_md5": {"dev-clean": dev_md5, "test-clean": test_md5}, "speakers": speakers}
    spec = DATASETS[name]
    info = DatasetInfo(name=name, class_names=spec.class_names, input_shape=(int(round(SECONDS * RATE)),),
                       num_examples=dict(MIXTURES), kind="waveforms", provenance=made_from)  # fmt: skip
    return Dataset(info=info, **mixture_splits(pools, MIXTURES, batch_size, seed))
