"""Run one piece of work under the Keras backend in ``KERAS_BACKEND`` and save what it computed,
for ``tests/test_backends.py`` to compare across TensorFlow, JAX and PyTorch.

    KERAS_BACKEND=jax python tests/backend_worker.py models OUT.npz [NAME ...]
    KERAS_BACKEND=jax python tests/backend_worker.py predict MODEL.keras IMAGES.npy OUT.npz
    KERAS_BACKEND=jax python tests/backend_worker.py attribution OUT.npz
    KERAS_BACKEND=jax python tests/backend_worker.py train OUT.npz

Weights are never carried between processes: every weight is drawn from a NumPy generator
seeded by the weight's position (:func:`seeded_weights`), so each backend builds the same model
with the same numbers.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def seeded_weights(model) -> None:
    """Give every weight of ``model`` values that depend only on its position and shape: He-scaled
    normals for kernels, small normals for biases, gammas near 1, variances in [0.5, 1.5]."""
    for index, variable in enumerate(model.weights):
        rng = np.random.default_rng(index)
        shape = tuple(variable.shape)
        name = variable.path.rsplit("/", 1)[-1]
        if "variance" in name:
            value = rng.uniform(0.5, 1.5, shape)
        elif name in ("gamma", "scale"):
            value = 1.0 + 0.1 * rng.standard_normal(shape)
        elif len(shape) <= 1:
            value = 0.1 * rng.standard_normal(shape)
        else:
            fan_in = int(np.prod(shape[:-1]))
            value = rng.standard_normal(shape, dtype="float32") * np.float32(np.sqrt(2.0 / fan_in))
        variable.assign(np.asarray(value, dtype=variable.dtype))


def input_shape_for(spec) -> tuple:
    """The default input, made smaller where the model allows it (the weights do not change)."""
    if spec.fixed_input or spec.takes != "images" or spec.input_shape[0] <= 64:
        return spec.input_shape
    side = max(spec.min_size or 0, 75)
    return (side, side, spec.input_shape[-1])


def numpy_initial_values() -> None:
    """On JAX, draw the initial values of new weights with NumPy instead of JAX's random programs.

    JAX compiles a random program for every new weight shape (about a second each on a 2-core CPU,
    most of the time it takes to build a large model there); this worker overwrites every weight
    with :func:`seeded_weights` anyway, so the initial values are thrown away. Only this worker
    does it: cnnkit itself initializes as Keras does."""
    import keras

    if keras.backend.backend() != "jax":
        return
    import jax.numpy as jnp
    from keras.src.backend import random  # the running backend's random module (the one initializers call)

    rng = np.random.default_rng(0)
    random.uniform = lambda shape, minval=0.0, maxval=1.0, dtype=None, seed=None: jnp.asarray(
        rng.uniform(minval, maxval, shape), dtype=dtype or "float32")
    random.normal = lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: jnp.asarray(
        rng.normal(mean, stddev, shape), dtype=dtype or "float32")
    random.truncated_normal = lambda shape, mean=0.0, stddev=1.0, dtype=None, seed=None: jnp.asarray(
        np.clip(rng.normal(mean, stddev, shape), mean - 2 * stddev, mean + 2 * stddev), dtype=dtype or "float32")


def model_outputs(names) -> dict[str, np.ndarray]:
    """For each model: ``NAME`` its outputs and ``NAME:features`` the input of its last layer (the
    scores before the softmax, which a saturated softmax would hide), on two seeded images."""
    import keras

    from cnnkit import backends
    from cnnkit.models import build, get_spec

    numpy_initial_values()
    results = {}
    for name in names:
        started = time.perf_counter()
        spec = get_spec(name)
        shape = input_shape_for(spec)
        options = {"weights": None} if spec.weights is not None else {}  # no download: seeded weights follow
        if keras.backend.backend() not in spec.backends:  # it must refuse in one line
            try:
                build(name)
            except ValueError as error:
                results[f"{name}:refused"] = np.array(str(error))
                continue
        if spec.small_build:  # the record's small build (U-Nets: their size rule allows no arbitrary side)
            model = build(name, num_classes=10, **spec.small_build)
        elif spec.takes == "images":
            model = build(name, input_shape=shape, num_classes=10, **options)
        else:
            model = build(name)
        shape = tuple(model.input_shape[1:])
        seeded_weights(model)
        both = keras.Model(model.inputs, [model.layers[-1].input, model.output])
        images = np.random.default_rng(1).uniform(0, 1, (2, *shape)).astype("float32")
        features, outputs = backends.compiled_inference(both)(images)
        results[name], results[f"{name}:features"] = (keras.ops.convert_to_numpy(t) for t in (outputs, features))
        print(f"{name} {time.perf_counter() - started:.1f} s", flush=True)
        keras.backend.clear_session()
    return results


def models(out, names):
    from cnnkit.models import list_models

    results = model_outputs(names or list_models())
    np.savez(out, **results)


def predict(model_file, images_file, out):
    import keras

    import cnnkit  # noqa: F401 (registers cnnkit's custom layers)

    model = keras.saving.load_model(model_file, safe_mode=True)
    np.savez(out, outputs=keras.ops.convert_to_numpy(model(np.load(images_file), training=False)))


def attribution_model():
    from cnnkit.models import build

    model = build("resnet_cifar", input_shape=(16, 16, 3), depth=8, num_classes=3)
    seeded_weights(model)
    return model


def attribution(out):
    import keras

    from cnnkit import attribution as attr

    model = attribution_model()
    images = np.random.default_rng(2).uniform(0, 1, (3, 16, 16, 3)).astype("float32")
    maps = {rule: attr.saliency(model, images, class_index=1, rule=rule) for rule in attr.RULES}
    probe = keras.Model(model.input, model.get_layer("conv2_block1_out").output)
    channel = int(np.argmax(keras.ops.convert_to_numpy(probe(images)).mean(axis=(0, 1, 2))))  # its liveliest map
    np.savez(out, **maps, grad_cam=attr.grad_cam(model, images, class_index=1),
             unit=attr.saliency(model, images, layer_name="conv2_block1_out", channel=channel, rule="plain"))


def train(out):
    """Ten steps of SGD on LeNet-5 from seeded weights, batches in a fixed order."""
    import keras

    from cnnkit.data import load_arrays
    from cnnkit.models import build

    arrays = load_arrays("mnist_sample")
    x = arrays["x_train"][:320].astype("float32") / 255.0
    y = arrays["y_train"][:320]
    model = build("lenet5")
    seeded_weights(model)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    np.savez(out, loss=np.array(history.history["loss"]),
             final=keras.ops.convert_to_numpy(model(x[:8], training=False)))


if __name__ == "__main__":
    task, *arguments = sys.argv[1:]
    if task == "models":
        models(arguments[0], arguments[1:])
    elif task == "predict":
        predict(*arguments)
    elif task == "attribution":
        attribution(*arguments)
    elif task == "train":
        train(*arguments)
    else:
        raise SystemExit(f"unknown task {task!r}")
