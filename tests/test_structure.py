"""The package's shape (issue 19, point 4 and 'done when'): no import cycle between cnnkit's
modules, the leaf modules import nothing from the modules that use them, and only the notebooks'
modes module reads the test budget."""

import ast
from pathlib import Path

import pytest

import cnnkit

PACKAGE = Path(cnnkit.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The cnnkit modules ``path`` imports, at any depth (imports inside functions count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules} - {module_name(path)}


def import_graph() -> dict[str, set[str]]:
    graph = {module_name(path): imports(path) for path in PACKAGE.rglob("*.py")}
    # importing a package runs its __init__, which is not a dependency of its submodules' own code
    return {name: {target for target in targets if not name.startswith(target + ".")} for name, targets in graph.items()}


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_cnnkit():
    graph = import_graph()
    assert len(graph) > 40 and "cnnkit.data.deap" in graph["cnnkit.data.eeg_features"]  # the walk sees imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_leaf_modules_import_no_cnnkit_module_that_uses_them():
    graph = import_graph()
    assert graph["cnnkit.data.deap_format"] == set() and graph["cnnkit.data.base"] == set()
    assert graph["cnnkit.data.registry"] <= {"cnnkit.data.deap_format", "cnnkit.errors"}
    assert "cnnkit.data.deap_synthetic" not in graph["cnnkit.data.deap"]  # the reader only reads
    assert not any(target.startswith("cnnkit.data") for target in graph["cnnkit.models.registry"])  # models never import data
    for module, targets in graph.items():
        if module.startswith("cnnkit.data"):
            assert not targets & {"cnnkit.training", "cnnkit.cli", "cnnkit.modes"}, module  # data never imports training


def test_the_run_folder_and_training_plumbing_are_split_by_concern():
    graph = import_graph()
    # The run folder's rules are read by training, the CLI and inference, and depend on none of them.
    assert not graph["cnnkit.runs"] & {"cnnkit.training", "cnnkit.cli", "cnnkit.inference", "cnnkit.callbacks"}
    assert graph["cnnkit.callbacks"] <= {"cnnkit.errors", "cnnkit.files"}  # callbacks know no run folder
    assert graph["cnnkit.distribute"] <= {"cnnkit.errors", "cnnkit.backends"}  # devices know nothing of training
    assert graph["cnnkit.backends"] <= {"cnnkit.errors"}  # what differs between backends is a leaf
    assert {"cnnkit.runs", "cnnkit.callbacks", "cnnkit.distribute"} <= graph["cnnkit.training"]
    assert "cnnkit.runs" in graph["cnnkit.cli"] and "cnnkit.runs" in graph["cnnkit.inference"]


@pytest.mark.fast  # on both stacks: Keras 3.13 (Colab's) and the reference version
def test_the_backup_repair_reads_the_files_keras_backup_and_restore_writes(tmp_path):
    """ResumableBackup.repair reads four paths that Keras' BackupAndRestore keeps in private attributes
    (issue 35, section 4: Keras has no public name for them). This checks them against what Keras writes:
    after two epochs with double_checkpoint and a kill, the latest weights and metadata and the previous
    epoch's copies are the files on disk, so a Keras that renames them fails here, on either stack."""
    import keras
    import numpy as np

    from cnnkit.callbacks import ResumableBackup

    backup = ResumableBackup(tmp_path / "backup")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    class Killed(keras.callbacks.Callback):  # after the backup of the second epoch, as a kill would
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # Keras removes the backup when training ends normally
        model.fit(np.ones((4, 3)), np.ones((4, 1)), epochs=3, callbacks=[backup, Killed()], verbose=0)
    paths = [Path(getattr(backup, name)) for name in
             ("_weights_path", "_training_metadata_path", "_prev_weights_path", "_prev_training_metadata_path")]  # fmt: skip
    written = sorted(p for p in (tmp_path / "backup").rglob("*") if p.is_file())
    assert sorted(paths) == written, (paths, written)
    assert backup.repair()  # and the repair reads them as a usable backup
    source = (PACKAGE / "callbacks.py").read_text() + (PACKAGE / "training.py").read_text()
    assert "latest.weights.h5" not in source and "training_metadata.json" not in source  # never spelled by cnnkit


def test_the_dataset_records_name_no_model():
    """Data must not know models (issue 35, section 3): the datasets' listing spelled ccnn / eeg_mlp; the
    command line now adds which models take each input, from the model registry."""
    import re

    from cnnkit.models import list_models

    source = (PACKAGE / "data" / "registry.py").read_text()
    assert [name for name in list_models() if re.search(rf"\b{re.escape(name)}\b", source)] == []


def test_one_writer_for_a_runs_and_an_evaluations_report_and_figures():
    """report.csv and the task's figures were written by the same lines twice, in cli.py and inference.py
    (issue 35, section 3): TaskEvaluation.write is the one writer."""
    writers = sorted(path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
                     if "REPORT" in path.read_text() and path.name != "runs.py")  # fmt: skip
    assert writers == ["tasks.py"]
