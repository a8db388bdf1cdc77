"""Point clouds (issue 31): X-Conv's steps against references, its symmetries, PointCNN's and PointNet's
counts beside the papers', the point sets, the OFF / PLY / XYZ / NPY readers with hostile files, and the
front doors (train, evaluate, predict on point files)."""

from __future__ import annotations

import io
import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial import cKDTree

from cnnkit.data import point_files
from cnnkit.data.point_files import BadPointFileError, parse_off, read_point_file, sample_surface
from cnnkit.errors import CorruptDatasetError, DatasetNotFoundError, UnknownNameError
from cnnkit.models import build, get_spec
from cnnkit.models.points import (
    XConv,
    farthest_point_sample,
    gather_neighbours,
    knn_indices,
    local_coordinates,
)

RNG = np.random.default_rng(7)


def cloud(batch=2, n=64, channels=3):
    return RNG.uniform(-1, 1, (batch, n, channels)).astype("float32")


# --- the steps -------------------------------------------------------------------------------


@pytest.mark.parametrize("k, dilation", [(8, 1), (6, 3)])
def test_knn_equals_scipys_kd_tree(k, dilation):
    points, queries = cloud(3, 200), cloud(3, 50)
    found = keras.ops.convert_to_numpy(knn_indices(queries, points, k, dilation))
    assert found.shape == (3, 50, k)
    for b in range(3):
        _, expected = cKDTree(points[b]).query(queries[b], k=k * dilation)
        np.testing.assert_array_equal(found[b], expected[:, ::dilation])


def test_gather_and_local_coordinates_are_the_neighbours_relative_to_their_representative():
    points = cloud(2, 30)
    indices = knn_indices(points[:, :5], points, 4)
    neighbours = keras.ops.convert_to_numpy(gather_neighbours(points, indices))
    idx = keras.ops.convert_to_numpy(indices)
    np.testing.assert_array_equal(neighbours[1, 2], points[1, idx[1, 2]])
    local = keras.ops.convert_to_numpy(local_coordinates(points[:, :5], neighbours))
    np.testing.assert_allclose(local[:, :, 0], 0, atol=1e-7)  # each representative finds itself first
    np.testing.assert_allclose(local[0, 3], points[0, idx[0, 3]] - points[0, 3], atol=1e-6)


def numpy_fps(points, m):
    chosen, nearest = [0], np.full(len(points), np.inf)
    for _ in range(m - 1):
        nearest = np.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(-1))
        chosen.append(int(nearest.argmax()))
    return chosen


def test_farthest_point_sampling_matches_its_definition():
    points = cloud(2, 100)
    found = keras.ops.convert_to_numpy(farthest_point_sample(points, 12))
    for b in range(2):
        assert found[b].tolist() == numpy_fps(points[b], 12)
        assert len(set(found[b].tolist())) == 12
    with pytest.raises(ValueError, match="0 < m <= 100"):
        farthest_point_sample(points, 101)


def xconv_layer(**options):
    options = {"filters": 16, "neighbours": 8, "lifted": 8, "depth_multiplier": 2, **options}
    return XConv(**options)


def test_xconv_is_permutation_equivariant_when_every_point_is_a_representative():
    points, features = cloud(2, 40), cloud(2, 40, 5)
    layer = xconv_layer()
    out = keras.ops.convert_to_numpy(layer([points, points, features]))
    order = RNG.permutation(40)
    shuffled = keras.ops.convert_to_numpy(layer([points[:, order], points[:, order], features[:, order]]))
    assert out.shape == (2, 40, 16) and out.std() > 0
    np.testing.assert_allclose(shuffled, out[:, order], atol=1e-5)


def test_xconv_neighbourhood_features_ignore_a_translation_of_the_whole_cloud():
    points = cloud(2, 40)
    layer = xconv_layer()
    moved = points + np.array([3.0, -2.0, 5.0], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([moved, moved])),
                               keras.ops.convert_to_numpy(layer([points, points])), atol=1e-4)  # fmt: skip
    with_global = xconv_layer(with_global=True)  # the global features see the absolute position, by design
    assert with_global([points, points]).shape == (2, 40, 16 + 4)
    assert not np.allclose(keras.ops.convert_to_numpy(with_global([moved, moved])),
                           keras.ops.convert_to_numpy(with_global([points, points])), atol=1e-3)  # fmt: skip


def test_xconv_shapes_with_fewer_representatives_and_dilation():
    points, features = cloud(2, 64), cloud(2, 64, 6)
    layer = xconv_layer(neighbours=6, dilation=3)
    assert layer([points[:, :20], points, features]).shape == (2, 20, 16)
    with pytest.raises(ValueError, match="K\\*D = 16\\*5 = 80 neighbours but the cloud has 64 points"):
        xconv_layer(neighbours=16, dilation=5)([points[:, :8], points])
    with pytest.raises(ValueError, match="neighbours must be a positive integer"):
        XConv(16, 0)


def test_gradients_reach_the_weights_that_make_x():
    points, features = tf.constant(cloud(2, 32)), tf.constant(cloud(2, 32, 4))
    layer = xconv_layer()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer([points[:, :10], points, features], training=True)))
    x_weights = [v for v in layer.trainable_weights if v.path.split("/")[-2] in ("x_0", "x_1", "x_2")]
    assert len(x_weights) == 3
    for variable, gradient in zip(x_weights, tape.gradient(loss, x_weights), strict=True):
        assert gradient is not None and float(tf.reduce_max(tf.abs(gradient))) > 0, variable.path


def test_without_x_the_layer_has_no_x_weights_and_is_not_order_invariant_per_neighbourhood():
    layer = xconv_layer(use_x=False)
    points = cloud(1, 32)
    layer([points, points])
    assert not [v for v in layer.weights if "/x_" in v.path]
    assert XConv.from_config(layer.get_config()).get_config() == layer.get_config()


def test_a_model_with_xconv_round_trips_through_a_keras_file_in_safe_mode(tmp_path):
    model = build("pointcnn_mnist", num_classes=3)
    x = cloud(2, 160, 4)
    expected = model(x, training=False)
    model.save(tmp_path / "points.keras")
    loaded = keras.saving.load_model(tmp_path / "points.keras", safe_mode=True)
    np.testing.assert_allclose(loaded(x, training=False), expected, atol=1e-6)


# --- the papers' counts ----------------------------------------------------------------------


def trainable(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def test_pointcnn_and_pointnet_have_the_papers_parameter_counts():
    """PointCNN (Li et al. 2018, Table 7): 0.6M for ModelNet40; PointNet (Qi et al. 2017, Table 6): 3.5M,
    and 0.8M for the vanilla network without transforms. Trainable weights (batch-norm statistics apart)."""
    pointcnn = build("pointcnn")
    assert trainable(pointcnn) == 599_340 and round(trainable(pointcnn) / 1e6, 1) == 0.6
    assert trainable(build("pointcnn", use_x=False)) < trainable(pointcnn)  # the ablation drops X's weights
    assert round(trainable(build("pointnet")) / 1e6, 1) == 3.5
    assert round(trainable(build("pointnet", input_transform=False, feature_transform=False)) / 1e6, 1) == 0.8
    layers = {layer.name: layer for layer in pointcnn.layers}
    assert [layers[f"xconv_{i}"].output.shape[1:] for i in range(1, 5)] == [(1024, 48), (384, 96), (128, 192),
                                                                           (128, 384 + 96)]  # fmt: skip
    assert get_spec("pointcnn").takes == "points" and get_spec("pointcnn").fitted == {"mnist_points": "pointcnn_mnist"}


def test_pointnet_is_permutation_invariant_and_a_flat_mlp_is_not():
    model = build("pointnet", input_shape=(64, 3), num_classes=4)
    flat = keras.Sequential([keras.Input((64, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    x = cloud(2, 64)
    order = RNG.permutation(64)
    np.testing.assert_allclose(model(x[:, order]), model(x), atol=1e-5)
    assert not np.allclose(flat(x[:, order]), flat(x), atol=1e-3)


# --- data --------------------------------------------------------------------------------------


def test_mnist_points_follow_the_authors_conversion():
    from cnnkit.data import images
    from cnnkit.data.points import mnist_points_splits

    arrays = mnist_points_splits()
    digits = images.mnist_sample_splits(None, False, None)
    assert arrays["x_train"].shape == (3500, 160, 4) and arrays["x_test"].shape == (1000, 160, 4)
    np.testing.assert_array_equal(arrays["y_test"], digits["y_test"])  # the same digits, the same split
    xyz, intensity = arrays["x_train"][..., :3], arrays["x_train"][..., 3]
    assert np.abs(xyz).max() <= 0.8 + 1e-6 and np.isclose(np.abs(xyz[..., [0, 2]]).max(axis=(1, 2)), 0.8).all()
    assert np.abs(xyz[..., 1]).max() < 1e-6  # the tiny random height
    assert intensity.min() > -0.5 and intensity.max() <= 0.5  # only ink is sampled: no zero pixel (-0.5)
    np.testing.assert_array_equal(mnist_points_splits()["x_train"], arrays["x_train"])  # deterministic


def test_the_synthetic_solids_say_so_and_lie_in_the_unit_sphere():
    from cnnkit.data import load_dataset
    from cnnkit.data.points import solid_meshes

    data = load_dataset("solids_synthetic", batch_size=50)
    assert data.info.synthetic and data.info.name.startswith("SYNTHETIC") and data.info.kind == "points"
    assert set(solid_meshes()) == set(data.info.class_names) and data.info.num_examples["train"] == 1000
    clouds, labels = next(iter(data.test))
    radius = np.linalg.norm(clouds.numpy(), axis=-1).max(axis=1)
    np.testing.assert_allclose(radius, 1.0, atol=1e-5)
    assert clouds.shape == (50, 1024, 3) and labels.dtype == tf.int32


def test_the_training_pipeline_reorders_points_and_augments_but_evaluation_does_not():
    from cnnkit.data.points import augment_points, point_pipeline

    x, y = cloud(4, 20), np.arange(4)
    train = next(iter(point_pipeline(x, y, batch_size=4, shuffle=True, augment=augment_points(jitter=0.0))))
    test = next(iter(point_pipeline(x, y, batch_size=4)))
    np.testing.assert_array_equal(test[0].numpy(), x)
    for clouds, labels in [train]:
        for i, label in enumerate(labels.numpy()):  # each cloud is its source turned and scaled: its height
            source = x[label]  # spread (y) only scaled, its points a permutation
            assert not np.allclose(clouds[i].numpy(), source, atol=1e-3)
            np.testing.assert_allclose(np.sort(np.linalg.norm(clouds[i].numpy()[:, [0, 2]], axis=1)),
                                       np.sort(np.linalg.norm(source[:, [0, 2]], axis=1)), rtol=0.3)  # fmt: skip


# --- files -------------------------------------------------------------------------------------

TETRAHEDRON = b"OFF\n4 4 6\n0 0 0\n1 0 0\n0 1 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n"


def test_off_meshes_parse_including_modelnets_fused_header_and_polygons():
    vertices, faces = parse_off(TETRAHEDRON)
    assert vertices.shape == (4, 3) and faces.shape == (4, 3)
    fused = b"OFF4 1 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n4 0 1 2 3\n"  # ModelNet's broken first line, a quad
    vertices, faces = parse_off(fused)
    assert faces.tolist() == [[0, 1, 2], [0, 2, 3]]


@pytest.mark.parametrize("text, problem", [
    (b"PLY\n", "keyword OFF"),
    (b"OFF\n40 1 0\n0 0 0\n", "holds only"),  # counts larger than the file
    (b"OFF\n3 1 0\n0 0 0\n1 nan 0\n0 1 0\n3 0 1 2\n", "NaN"),
    (b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "past the 3 vertices"),
    (b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n2 0 1 0 0\n", "corners"),
    (b"OFF\n99999999 1 0\n", "more than the"),
    (b"OFF\n-3 1 0\n", "whole numbers"),
], ids=["keyword", "counts", "nan", "range", "corners", "cap", "negative"])  # fmt: skip
def test_hostile_off_files_are_refused_with_the_file_named(text, problem, tmp_path):
    path = tmp_path / "shape.off"
    path.write_bytes(text)
    with pytest.raises(BadPointFileError, match=problem) as caught:
        read_point_file(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.xyz"
    path.write_bytes(b"0 0 0\n" * 1000)
    monkeypatch.setattr(point_files, "MAX_FILE_BYTES", 100)
    with pytest.raises(BadPointFileError, match="more than the 100 a point file may have"):
        read_point_file(path)


def test_surface_sampling_is_proportional_to_area():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [10, 0, 0], [13, 0, 0], [10, 2, 0]], float)
    faces = np.array([[0, 1, 2], [3, 4, 5]])  # areas 0.5 and 3
    points = sample_surface(vertices, faces, 20_000, np.random.default_rng(0))
    share = (points[:, 0] >= 10).mean()
    assert abs(share - 3 / 3.5) < 0.01
    small = points[points[:, 0] < 10]
    assert (small[:, 0] + small[:, 1] <= 1 + 1e-9).all() and (small >= -1e-12).all()  # inside its triangle
    with pytest.raises(ValueError, match="no surface area"):
        sample_surface(vertices, np.array([[0, 0, 0]]), 10, np.random.default_rng(0))


def test_point_files_of_every_kind_and_their_bad_forms(tmp_path):
    xyz = cloud(1, 50)[0].astype("float64")
    np.save(tmp_path / "a.npy", xyz)
    (tmp_path / "a.xyz").write_text("\n".join(" ".join(map(str, row)) for row in xyz))
    header = "ply\nformat {}\nelement vertex 50\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
    (tmp_path / "a.ply").write_bytes(header.format("binary_little_endian 1.0").encode() + xyz.astype("<f4").tobytes())
    (tmp_path / "b.ply").write_text(header.format("ascii 1.0") + "\n".join(" ".join(map(str, r)) for r in xyz))
    for name in ("a.npy", "a.xyz", "a.ply", "b.ply"):
        np.testing.assert_allclose(read_point_file(tmp_path / name), xyz, atol=1e-6, err_msg=name)
    (tmp_path / "t.off").write_bytes(TETRAHEDRON)
    assert read_point_file(tmp_path / "t.off", count=100).shape == (100, 3)
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "ragged.xyz").write_text("0 0 0\n1 1\n")
    np.save(tmp_path / "wide.npy", np.zeros((5, 4)))
    (tmp_path / "short.ply").write_bytes(header.format("binary_little_endian 1.0").encode() + b"\0" * 12)
    (tmp_path / "a.txt").write_text("0 0 0")
    for name, problem in [("pickled.npy", "not a plain NumPy array"), ("ragged.xyz", "different numbers"),
                          ("wide.npy", "4 columns but the model takes 3"), ("short.ply", "fewer than"),
                          ("a.txt", "suffix")]:  # fmt: skip
        with pytest.raises(BadPointFileError, match=problem):
            read_point_file(tmp_path / name)


def modelnet_zip(path, classes=("bed", "chair"), extra=b""):
    with zipfile.ZipFile(path, "w") as archive:
        for name in classes:
            for split in ("train", "test"):
                for i in range(2):
                    archive.writestr(f"ModelNet10/{name}/{split}/{name}_{i:04d}.off", TETRAHEDRON)
        if extra:
            archive.writestr("ModelNet10/bed/train/bed_9999.off", extra)
    return path


def test_a_modelnet_archive_is_read_mesh_by_mesh_and_a_hostile_mesh_named(tmp_path):
    from cnnkit.data.points import read_modelnet_archive

    classes, found = read_modelnet_archive(modelnet_zip(tmp_path / "m.zip"), points=64)
    assert classes == ("bed", "chair") and found["train"][0].shape == (4, 64, 3)
    assert found["test"][1].tolist() == [0, 0, 1, 1]
    with pytest.raises(BadPointFileError, match="bed_9999.off.*past the 4 vertices"):
        read_modelnet_archive(modelnet_zip(tmp_path / "bad.zip", extra=TETRAHEDRON.replace(b"3 1 2 3", b"3 1 2 9")))
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    with pytest.raises(CorruptDatasetError, match="not a readable zip"):
        read_modelnet_archive(tmp_path / "broken.zip")


def test_modelnet_offline_is_one_clear_line_and_a_wrong_archive_is_refused(tmp_path):
    from cnnkit.data import load_dataset
    from cnnkit.data.points import modelnet_splits

    with pytest.raises(DatasetNotFoundError, match="ModelNet10.zip was not found") as caught:
        load_dataset("modelnet10", folder=tmp_path)
    assert "\n" not in str(caught.value)
    modelnet_zip(tmp_path / "ModelNet10.zip")
    with pytest.raises(CorruptDatasetError, match="not modelnet10's"):
        modelnet_splits("modelnet10", folder=tmp_path)
    assert not list(tmp_path.glob("*.npz"))  # nothing cached from a wrong archive


# --- front doors -------------------------------------------------------------------------------


def test_the_fitting_rule_keeps_points_and_images_apart_and_picks_the_papers_configuration():
    from cnnkit.fitting import configuration, input_options

    assert input_options("pointcnn", "mnist_points") == {}
    assert configuration("pointcnn", "mnist_points") == "pointcnn_mnist"
    assert configuration("pointcnn", "solids_synthetic") == "pointcnn"
    with pytest.raises(UnknownNameError, match="lenet5 takes images .* holds point clouds; .*pointnet"):
        input_options("lenet5", "mnist_points")
    with pytest.raises(UnknownNameError, match="pointnet takes point clouds, but digits holds images"):
        input_options("pointnet", "digits")


def test_train_evaluate_and_predict_a_point_model_from_the_command_line(tmp_path, capsys):
    from cnnkit import cli

    out = tmp_path / "run"
    assert cli.main(["train", "pointnet", "--dataset", "mnist_points", "--epochs", "1", "--out", str(out),
                     "-o", "input_transform=false", "-o", "feature_transform=false"]) == 0  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["configuration"] == "pointnet" and metrics["test_accuracy"] > 0.3
    assert {"model.keras", "history.csv", "report.csv", "confusion_matrix.png"} <= {p.name for p in out.iterdir()}
    settings = json.loads((out / "settings.json").read_text())
    assert "configuration" not in settings  # pointnet is its own configuration on every set
    from cnnkit.data.points import mnist_points_splits

    digit = mnist_points_splits()["x_test"][0]
    np.save(tmp_path / "digit.npy", digit)
    (tmp_path / "digit.xyz").write_text("\n".join(" ".join(f"{v:.6f}" for v in row) for row in digit))
    np.save(tmp_path / "bad.npy", np.zeros((5, 3)))  # three columns for a model that takes four
    capsys.readouterr()
    assert cli.main(["predict", str(out), str(tmp_path / "digit.npy"), str(tmp_path / "digit.xyz")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split("\t")[1] == lines[1].split("\t")[1]
    assert cli.main(["predict", str(out), str(tmp_path / "bad.npy")]) != 0
    assert "3 columns but the model takes 4" in capsys.readouterr().err
    assert cli.main(["evaluate", str(out), "--dataset", "mnist_points", "--out", str(tmp_path / "ev")]) == 0
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["examples"] == 1000
    assert cli.main(["train", "lenet5", "--dataset", "mnist_points", "--out", str(tmp_path / "no")]) == 2
