"""Models that reload anywhere: a ``.keras`` file of every registered model loads in a fresh
process with ``import cnnkit`` and Keras' safe mode, and gives the same outputs (issue 12, item 3)."""

import json
import subprocess
import sys
import textwrap

import numpy as np

from cnnkit.models import build, get_spec, list_models


def small_shape(name):
    """The smallest convenient input: 32x32 images where the model allows, else its own."""
    spec = get_spec(name)
    if spec.takes != "images" or spec.fixed_input:
        return spec.input_shape
    size = max(32, spec.min_size)
    return (size, size, spec.input_shape[2]) if spec.input_shape[0] > size else spec.input_shape


LOAD_EACH = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import cnnkit  # registers cnnkit's custom layers, losses and metrics: nothing else is imported
    import keras

    folder = sys.argv[1]
    for line in sys.stdin:  # one model name per line, as soon as its file is written
        name = line.strip()
        model = keras.saving.load_model(f"{folder}/{name}.keras", safe_mode=True)
        out = model(np.load(f"{folder}/{name}.npy"), training=False)
        out = out[0] if isinstance(out, list) else out
        print(json.dumps({name: np.asarray(out).tolist()}), flush=True)
    """
)


def test_every_registered_model_reloads_in_a_fresh_process_with_import_cnnkit_alone(tmp_path):
    """The fresh process loads each file while this one builds the next (both cores busy)."""
    expected, names = {}, list_models()
    rng = np.random.default_rng(0)
    loader = subprocess.Popen([sys.executable, "-c", LOAD_EACH, str(tmp_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for name in names:
            spec = get_spec(name)
            offline = {"weights": None} if spec.pretrained else {}
            options = spec.small_build or {"input_shape": small_shape(name), **offline}
            model = build(name, num_classes=3, **options)
            shape = tuple(model.input_shape[1:])
            model.compile(loss=None)  # compiled like a trained run, with cnnkit's loss where it has one
            x = rng.uniform(0, 1, size=(2, *shape)).astype("float32")
            out = model(x, training=False)
            expected[name] = np.asarray(out[0] if isinstance(out, list) else out)
            np.save(tmp_path / f"{name}.npy", x)
            model.save(tmp_path / f"{name}.keras")
            loader.stdin.write(name + "\n")
            loader.stdin.flush()
        stdout, stderr = loader.communicate(timeout=600)
    finally:
        loader.kill()
    assert loader.returncode == 0, stderr[-3000:]
    loaded = {k: v for line in stdout.splitlines() for k, v in json.loads(line).items()}
    assert set(loaded) == set(names)
    for name in names:
        np.testing.assert_allclose(np.asarray(loaded[name]), expected[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_a_trained_run_with_cnnkits_own_loss_reloads_in_a_fresh_process(tmp_path):
    """lenet5_classic trains with LeNetRBFLoss and an argmin metric: both must load too."""
    from cnnkit.data import load_dataset
    from cnnkit.training import train

    data = load_dataset("digits", batch_size=64, pad_to=32)
    train(build("lenet5_classic"), data.train.take(2), data.validation.take(1), epochs=1, out_dir=tmp_path,
          verbose=0)  # fmt: skip
    script = (
        "import cnnkit, keras; m = keras.saving.load_model(r'%s', safe_mode=True); "
        "print(type(m.loss).__name__, [x.name for x in m.metrics])" % (tmp_path / "model.keras")
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LeNetRBFLoss" in done.stdout


def test_import_cnnkit_alone_registers_every_custom_object_that_cnnkit_defines():
    """A run's model.keras is saved compiled, with the task's loss and metrics (MacroF1, SiSnrImprovement,
    the mask metrics): a fresh process that imports cnnkit alone must know every one of them. Failed
    before: cnnkit.tagging and cnnkit.separation were not imported, so a tagger's run did not load."""
    import importlib
    import pkgutil

    import keras

    import cnnkit

    for module in pkgutil.walk_packages(cnnkit.__path__, "cnnkit."):
        if module.name not in {"cnnkit.__main__"}:
            importlib.import_module(module.name)
    defined = sorted(key for key in keras.saving.get_custom_objects() if key.startswith("cnnkit>"))
    script = "import cnnkit, keras; print(sorted(k for k in keras.saving.get_custom_objects() if k.startswith('cnnkit>')))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(defined) > 20 and done.stdout.strip() == str(defined)


def test_a_light_import_for_data_only_processes_does_not_load_tensorflow():
    import os

    script = "import sys, cnnkit; from cnnkit.data import deap; print('tensorflow' in sys.modules)"
    env = {**os.environ, "CNNKIT_LIGHT_IMPORT": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]
