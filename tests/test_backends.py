"""cnnkit on TensorFlow, JAX and PyTorch: the same numbers from the same weights (issue 20).

Keras reads its backend once per process, so each backend runs in its own process
(``tests/backend_worker.py``, or the command line with ``--backend``); this process runs the
suite's default, TensorFlow. Tolerances, float32 throughout:

- every registered model's outputs, and the input of its last layer (the scores a saturated
  softmax would hide), from the same seeded weights: ``rtol=1e-3`` plus ``atol`` 1e-4 of the
  largest value (deep networks sum millions of products in different orders on each backend);
- a ``.keras`` file saved here and loaded on another backend: ``atol=1e-5``;
- saliency maps (plain, deconvnet, guided) and Grad-CAM: ``atol=1e-4`` of the largest value;
- three epochs of SGD from the same weights in the same order: every epoch's loss within
  ``rtol=1e-3``.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnkit import backends, cli
from cnnkit.models import get_spec, list_models

ROOT = Path(__file__).resolve().parent.parent
OTHER_BACKENDS = ("jax", "torch")


def run_under(backend: str, *arguments, timeout: int = 900, extra_env=None) -> subprocess.CompletedProcess:
    """``python ARGUMENTS`` in a fresh process whose Keras runs on ``backend`` (with ``extra_env`` set)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3",
           **(extra_env or {})}  # fmt: skip
    done = subprocess.run([sys.executable, *map(str, arguments)], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, f"{backend}: {' '.join(map(str, arguments))}\n{done.stderr[-3000:]}"
    return done


def worker(backend: str, task: str, *arguments) -> None:
    run_under(backend, ROOT / "tests" / "backend_worker.py", task, *arguments)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """What TensorFlow computes, once per test process."""
    folder = tmp_path_factory.mktemp("tensorflow")
    worker("tensorflow", "attribution", folder / "attribution.npz")
    worker("tensorflow", "train", folder / "train.npz")
    return folder


SHARDS = 4  # the models in four groups, so that the two test processes share the work


@functools.cache
def tensorflow_outputs(shard: int) -> dict[str, np.ndarray]:
    """What TensorFlow (this process) computes for a shard's models, once for both other backends."""
    from tests.backend_worker import model_outputs

    return model_outputs(list_models()[shard::SHARDS])


# A shard's two backends run in one test process, which computes the TensorFlow reference once.
@pytest.mark.parametrize("shard", [pytest.param(shard, marks=pytest.mark.xdist_group(f"models-{shard}"))
                                   for shard in range(SHARDS)])  # fmt: skip
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_every_registered_model_gives_the_same_outputs_from_the_same_weights(backend, shard, tmp_path):
    names = list_models()[shard::SHARDS]
    worker(backend, "models", tmp_path / "models.npz", *names)
    found = np.load(tmp_path / "models.npz")
    expected = dict(tensorflow_outputs(shard))  # a copy: the refused models' keys are deleted below
    refused = {name for name in names if backend not in get_spec(name).backends}
    for name in refused:  # what Keras cannot build there refuses in one line that names where it can
        message = str(found[f"{name}:refused"])
        assert "KERAS_BACKEND=tensorflow" in message and "\n" not in message
        del expected[name], expected[f"{name}:features"]
    assert sorted(key for key in found.files if not key.endswith(":refused")) == sorted(expected)
    for key, reference in expected.items():
        scale = np.abs(reference).max()
        assert np.isfinite(found[key]).all() and reference.std() > 0, key  # real, non-constant numbers
        np.testing.assert_allclose(found[key], reference, rtol=1e-3, atol=1e-4 * max(scale, 1.0),
                                   err_msg=f"{key} on {backend}")  # fmt: skip
    assert sum(len(list_models()[i::SHARDS]) for i in range(SHARDS)) == len(list_models())  # none left out


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_a_model_saved_on_tensorflow_loads_and_predicts_the_same_on(backend, tmp_path):
    from cnnkit.models import build
    from tests.backend_worker import seeded_weights

    model = build("resnet_cifar", input_shape=(16, 16, 3), depth=8)
    seeded_weights(model)
    model.save(tmp_path / "model.keras")
    images = np.random.default_rng(3).uniform(0, 1, (4, 16, 16, 3)).astype("float32")
    np.save(tmp_path / "images.npy", images)
    worker(backend, "predict", tmp_path / "model.keras", tmp_path / "images.npy", tmp_path / "out.npz")
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["outputs"], expected, atol=1e-5)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_saliency_and_grad_cam_agree_across_backends(backend, reference, tmp_path):
    worker(backend, "attribution", tmp_path / "attribution.npz")
    expected, found = np.load(reference / "attribution.npz"), np.load(tmp_path / "attribution.npz")
    assert sorted(found.files) == sorted(expected.files) == sorted(["plain", "guided", "deconvnet", "grad_cam", "unit"])
    for key in expected.files:
        scale = np.abs(expected[key]).max()
        assert scale > 0, key
        np.testing.assert_allclose(found[key], expected[key], atol=1e-4 * scale, err_msg=f"{key} on {backend}")
    assert not np.allclose(expected["plain"], expected["guided"])  # the rules really differ


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_a_short_training_run_has_the_same_loss_curve(backend, reference, tmp_path):
    worker(backend, "train", tmp_path / "train.npz")
    expected, found = np.load(reference / "train.npz"), np.load(tmp_path / "train.npz")
    assert expected["loss"][-1] < expected["loss"][0]  # it learned
    np.testing.assert_allclose(found["loss"], expected["loss"], rtol=1e-3)
    np.testing.assert_allclose(found["final"], expected["final"], atol=1e-3)


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_main_job_predict_and_evaluate_run_on(backend, tmp_path):
    """The README's main job with --backend, then the trained run used from the command line."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("main_job", ROOT / "bench" / "main_job.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "run"
    run_under("tensorflow", "-m", "cnnkit", "train", "lenet5", "--backend", backend, "--out", out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["backend"] == backend and metrics["epochs"] == 20
    assert metrics["backends"] == [{"backend": backend, "epochs": [0, 19]}]
    assert metrics["test_accuracy"] >= bench.TARGET_ACCURACY
    from cnnkit.data.samples import write_digit_folder

    folder = write_digit_folder(tmp_path / "digits", digits=range(10), per_class=2)
    done = run_under(backend, "-m", "cnnkit", "predict", out, folder)
    assert len(done.stdout.splitlines()) == 20
    run_under(backend, "-m", "cnnkit", "evaluate", out, "--dataset", "digits", "--out", tmp_path / "evaluation")
    evaluation = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert evaluation["examples"] == 270 and evaluation["accuracy"] > 0.5  # another set of digits, recognised


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_separation_and_tagging_runs_train_evaluate_and_predict_on(backend, tmp_path):
    """Issue 33's front doors on another backend: a tiny Conv-TasNet on the SYNTHETIC mixtures and the
    tagger on the punctuation set, two steps an epoch (Keras' own KERAS_MAX_STEPS_PER_EPOCH), then
    evaluate and predict in fresh processes that load the runs' model.keras files."""
    from tests.test_sequence_runs import TINY_TASNET

    steps = {"KERAS_MAX_STEPS_PER_EPOCH": "2"}
    tasnet, tagger = tmp_path / "tasnet", tmp_path / "tagger"
    for model, dataset, out, options in (("conv_tasnet", "speech_synthetic", tasnet, TINY_TASNET),
                                         ("cnn_tagger", "pydoc_punctuation", tagger, [])):  # fmt: skip
        run_under(backend, "-m", "cnnkit", "train", model, "--dataset", dataset, "--epochs", "1", *options,
                  "--out", out, extra_env=steps)  # fmt: skip
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["backend"] == backend and np.isfinite(metrics[f"test_{'si_snri' if out == tasnet else 'macro_f1'}"])
        run_under(backend, "-m", "cnnkit", "evaluate", out, "--dataset", dataset, "--out", tmp_path / f"{out.name}-check")
    from cnnkit.data.wav_files import write_wav

    write_wav(tmp_path / "mixture.wav", 0.3 * np.random.default_rng(0).standard_normal(12_000), 8000)
    run_under(backend, "-m", "cnnkit", "predict", tasnet, tmp_path / "mixture.wav", "--sources", tmp_path / "sources")
    assert sorted(p.name for p in (tmp_path / "sources").iterdir()) == ["mixture-speaker1.wav", "mixture-speaker2.wav"]
    (tmp_path / "notes.txt").write_text("text without marks")
    done = run_under(backend, "-m", "cnnkit", "predict", tagger, tmp_path / "notes.txt")
    assert done.stdout.lower().replace(".", "").replace(",", "").split("\t")[1].strip() == "text without marks"


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_attribution_and_fault_tests_pass_on(backend):
    """The attribution tests and the run-folder fault tests (resume after a kill, damaged backups,
    two processes on one folder, a NaN loss, a full disk), run again on another backend."""
    run_under(backend, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "tests/test_attribution.py",
              "tests/test_faults.py", timeout=1200)  # fmt: skip


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_the_segmentation_and_separation_tests_pass_on(backend):
    """The mask metrics, losses and weight map (tests/test_segmentation.py), the brain volume's
    sparse-slice training (tests/test_brain.py), Conv-TasNet with its SI-SNR loss (tests/test_tasnet.py)
    and the tagger with its CRF (tests/test_crf.py, tests/test_tagging.py), run again on another backend."""
    tests = ["tests/test_segmentation.py", "tests/test_brain.py", "tests/test_tasnet.py", "tests/test_crf.py",
             "tests/test_tagging.py"]
    run_under(backend, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *tests, timeout=1200)


def test_a_backend_chosen_too_late_is_one_line(capsys):
    assert backends.current() == "tensorflow"
    assert backends.choose("tensorflow") == "tensorflow"
    assert cli.main(["models", "--backend", "jax"]) == 2  # called from Python: cannot re-run the process
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "KERAS_BACKEND=jax before importing keras" in err
    with pytest.raises(backends.BackendError, match="Unknown Keras backend 'mxnet'"):
        backends.choose("mxnet")
