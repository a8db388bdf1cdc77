"""The command line: ``python -m cnnkit train | predict | evaluate | models | datasets``.

- ``train MODEL --dataset NAME_OR_FOLDER``: a built-in dataset, or a folder of your own images
  with one subfolder per class (every file is checked first; ``--split`` sets the fractions).
- ``predict RUN_DIR IMAGE_OR_FOLDER...``: one line per image (``--top K``, ``--csv FILE``); a separation
  run writes one WAV file per speaker of each WAV file, a tagging run prints each text file restored.
- ``evaluate RUN_DIR --dataset NAME_OR_FOLDER``: metrics, per-class report and confusion matrix
  in a new folder under ``RUN_DIR/evaluations/``.

Every command takes ``--backend tensorflow|jax|torch`` (default: ``KERAS_BACKEND``, else
TensorFlow). ``train --processes N`` trains data-parallel in N local JAX processes, and
``--coordinator HOST:PORT --num-processes N --process-id I`` runs one process per machine
(:mod:`cnnkit.distribute`, :mod:`cnnkit.launch`).

``train`` writes into its run folder (default ``runs/<model>-<dataset>-<time>``):

- ``model.keras``: the best model (lowest validation loss), loadable in Keras safe mode;
- ``history.csv``: loss and accuracy per epoch, for training and validation;
- ``metrics.json``: test accuracy and loss of ``model.keras``, timings, the settings;
- ``report.csv``: precision, recall and F1 per class on the test set;
- ``learning_curves.png`` and ``confusion_matrix.png``;
- ``classes.json``: the class names, used by ``predict`` and ``evaluate``.

The run folder is a small state machine (its files and states: :mod:`cnnkit.runs`). ``run.json``
marks finished training and ``metrics.json`` (written last) a finished run. Running the same
command again resumes training that was killed, writes whatever reports are missing when only
they were interrupted, and refuses to touch a finished run. ``settings.json`` records the model, the
settings and a fingerprint of the data (every image file's path, size and time; DEAP's subject
files), written once the run can start; a rerun with other settings, or on data that changed
since, is refused before anything in the folder is rewritten. A lock (``.lock``) keeps a second
process out while one is running; temporary files a killed write left behind are removed.

Bad arguments (including an unusable ``--out`` or a model option the model refuses) print one
clear line and exit with status 2; a data or model problem found while running (a missing
dataset file, a loss that became NaN) prints one line and exits with status 1. Any other error
is a fault, not bad input: it keeps its traceback (status 1).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # hide TensorFlow's C++ log lines; errors still raise

import keras  # noqa: E402

from cnnkit import backends, distribute, launch, plots, runs  # noqa: E402
from cnnkit.data import augment, folders  # noqa: E402
from cnnkit.data.loading import load_dataset  # noqa: E402
from cnnkit.data.registry import DATASETS, DatasetSpec, datasets_table, get_dataset, list_datasets  # noqa: E402
from cnnkit.data.deap_format import SUBJECTS  # noqa: E402
from cnnkit.distribute import training_scope  # noqa: E402
from cnnkit.errors import (  # noqa: E402
    BadInputFileError,
    BadOptionError,
    CnnkitError,
    OutputFolderError,
    RunExistsError,
    RunFolderError,
    UnknownNameError,
)
from cnnkit.files import (  # noqa: E402
    atomic_path,
    folder_lock,
    is_disk_full,
    printable,
    remove_orphaned_temporaries,
    write_json,
    write_text,
)
from cnnkit.fitting import configuration, fitted_options, input_options  # noqa: E402
from cnnkit.inference import check_output_file  # noqa: E402
from cnnkit.models import build, get_spec, list_models  # noqa: E402
from cnnkit.seed import set_seed  # noqa: E402
from cnnkit.tasks import TASKS, scored_classes, task_of  # noqa: E402
from cnnkit.training import train  # noqa: E402


def _model_option(text: str) -> tuple[str, object]:
    """Parse ``KEY=VALUE`` into a builder option; numbers and true/false are converted."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    lowered = value.lower()
    if lowered in {"true", "false"}:
        return key, lowered == "true"
    for convert in (int, float):
        try:
            return key, convert(value)
        except ValueError:
            pass
    return key, value


TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")


def typed_options(model_name: str, pairs) -> list[tuple[str, object]]:
    """Check ``-o KEY=VALUE`` pairs against the model's builder: an option whose default is a
    boolean takes exactly true/false, yes/no or 1/0 (``trainable=no`` must not read as a
    non-empty, hence true, string); anything else is refused in one line."""
    import inspect

    parameters = inspect.signature(get_spec(model_name).builder).parameters
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    typed = []
    for key, value in pairs:
        parameter = parameters.get(key)
        if parameter is None and not open_ended or key in ("input_shape", "num_classes"):
            takes = [name for name, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD
                     and name not in ("input_shape", "num_classes")]  # fmt: skip
            raise BadOptionError(
                f"-o {key}=...: {model_name} takes no option {key!r}"
                + (" (the data sets the input shape and the classes)" if key in ("input_shape", "num_classes") else "")
                + f"; its options: {', '.join(takes) or 'none'}."
            )
        if parameter is not None and isinstance(parameter.default, bool) and not isinstance(value, bool):
            word = str(value).strip().lower()
            if word not in TRUE_WORDS + FALSE_WORDS:
                raise BadOptionError(
                    f"-o {key}={value}: {key} of {model_name} is true or false; write {key}=true or "
                    f"{key}=false (yes/no and 1/0 are accepted too)."
                )
            value = word in TRUE_WORDS
        elif parameter is not None and _wrong_number(parameter.default, value):
            kind = "a whole number" if isinstance(parameter.default, int) else "a number"
            raise BadOptionError(
                f"-o {key}={value}: {key} of {model_name} is {kind} (its default is {parameter.default!r}); "
                f"write a number there, e.g. {key}={parameter.default!r}."
            )
        typed.append((key, value))
    return typed


def _wrong_number(default, value) -> bool:
    """Whether ``value`` (as :func:`_model_option` parsed it) cannot stand where the builder's default is a
    number: an int default takes whole numbers only, a float default any number (booleans are no numbers)."""
    if isinstance(default, bool) or not isinstance(default, int | float):
        return False
    allowed = (int,) if isinstance(default, int) else (int, float)
    return isinstance(value, bool) or not isinstance(value, allowed)


def _subject_count(text: str) -> int:
    value = _positive_int(text)
    if value > SUBJECTS:
        raise argparse.ArgumentTypeError(f"DEAP recorded {SUBJECTS} people: expected 1 to {SUBJECTS}, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) <= 0 or abs(sum(values) - 1) > 1e-6:
        raise argparse.ArgumentTypeError(f"expected three positive fractions adding up to 1, e.g. 0.7,0.15,0.15; got {text!r}")
    return values


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {value}")
    return value


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cnnkit", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--backend", choices=backends.BACKENDS,
                        help="the Keras backend (default: KERAS_BACKEND, else tensorflow)")  # fmt: skip

    commands.add_parser("models", help="list the registered models", parents=[common])
    commands.add_parser("datasets", help="list the datasets", parents=[common])

    ask = commands.add_parser("predict", help="predict the classes of new images with a trained run",
                              parents=[common])  # fmt: skip
    ask.add_argument("run", type=Path, help="a run folder (with model.keras)")
    ask.add_argument("images", nargs="+", type=Path, help="image files or folders (point files for a point-cloud "
                     "run, WAV files for a separation run, text files for a tagging run)")
    ask.add_argument("--top", type=_positive_int, default=1, help="the K most probable classes")
    ask.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    ask.add_argument("--sources", type=Path, help="for a separation run, where the WAV file of each speaker goes "
                     "(default RUN/sources-<time>)")  # fmt: skip
    ask.add_argument("--masks", type=Path, help="for a segmentation run, where the predicted masks go as palette "
                     "PNGs (default RUN/masks-<time>)")  # fmt: skip

    check = commands.add_parser("evaluate", help="evaluate a trained run on a dataset or an image folder",
                                parents=[common])  # fmt: skip
    check.add_argument("run", type=Path, help="a run folder (with model.keras)")
    check.add_argument("--dataset", required=True, help="a dataset name or a folder of class subfolders")
    check.add_argument("--out", type=Path, help="where to write (default RUN/evaluations/<dataset>-<time>)")

    run = commands.add_parser("train", help="train a model and write its results", parents=[common])
    run.add_argument("model", help="a registered model name (see: python -m cnnkit models)")
    run.add_argument(
        "--dataset",
        default="mnist_sample",
        help=f"{', '.join(list_datasets())} (mnist_sample, the default: 5,000 real MNIST digits, offline), "
        "or a folder of your own images with one subfolder per class (see: python -m cnnkit datasets)",
    )
    run.add_argument("--epochs", type=_positive_int, help="default per dataset: " + ", ".join(
        f"{name} {spec.default_epochs}" for name, spec in DATASETS.items()) + ", a folder 20")
    run.add_argument("--batch-size", type=_positive_int, default=None,
                     help="examples per batch (default: the dataset's, 32 for most; 16 for mnist_scenes)")
    run.add_argument("--learning-rate", type=_positive_float, default=3e-3, help="Adam's step size")
    run.add_argument(
        "--augment",
        choices=["shift", "none"],
        default="shift",
        help="random shifts of up to 8%% of the training images (default) or none; for a point set, the set's "
        "own augmentation (turns about the up axis, scaling, jitter) unless none; none for a segmentation set "
        "(its scenes already place every digit at random)",
    )
    run.add_argument("--seed", type=int, default=0, help="fixes the initialization, the shuffling and a folder's split")
    run.add_argument("--subjects", type=_subject_count, default=SUBJECTS,
                     help=f"DEAP subjects to use, 1 to {SUBJECTS} (deap, deap_synthetic)")  # fmt: skip
    run.add_argument("--split", type=_fractions, default=(0.7, 0.15, 0.15), metavar="TRAIN,VAL,TEST",
                     help="fractions of an image folder (default 0.7,0.15,0.15), stratified by class")
    run.add_argument("--out", type=Path, help="run folder (default runs/<model>-<dataset>-<time>)")
    run.add_argument("--no-download", action="store_true", help="never download a missing dataset file")
    several = run.add_argument_group("several processes (keras.distribution on JAX, data parallel)")
    several.add_argument("--processes", type=_positive_int, default=1, metavar="N",
                         help="train in N processes on this machine, each with its share of every batch")
    several.add_argument("--coordinator", metavar="HOST:PORT",
                         help="one process per machine: process 0's address and a free port (or "
                              "KERAS_DISTRIBUTION_JOB_ADDRESSES); needs --out, --num-processes and --process-id")
    several.add_argument("--num-processes", type=_positive_int, metavar="N",
                         help="how many processes in all (or KERAS_DISTRIBUTION_NUM_PROCESSES)")
    several.add_argument("--process-id", type=int, metavar="I",
                         help="this process, 0 to N-1; 0 writes the run folder (or KERAS_DISTRIBUTION_PROCESS_ID)")
    several.add_argument("--join-timeout", type=_positive_int, default=60, metavar="SECONDS",
                         help="how long a process waits for the others to join (default 60)")  # fmt: skip
    several.add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)  # started by cnnkit.launch
    run.add_argument(
        "--option",
        "-o",
        action="append",
        type=_model_option,
        default=[],
        metavar="KEY=VALUE",
        help="builder option, e.g. -o activation=relu -o pooling=max",
    )
    return parser


# What must match for a rerun to continue a run folder instead of being refused: the command's
# settings, how the data is fitted to the model, and a fingerprint of the data itself.
RUN_IDENTITY = ("model", "dataset", "option", "batch_size", "augment", "seed", "split", "learning_rate")


def run_identity(args, dataset: DatasetSpec, options: dict, data_fingerprint: str) -> dict:
    """What defines a run (recorded in ``settings.json``, compared by
    :func:`cnnkit.runs.check_settings`): the settings that change its data or its training, the
    input options (:func:`input_options`) and ``data_fingerprint``
    (:func:`cnnkit.runs.fingerprint_data`)."""
    identity = {key: getattr(args, key) for key in RUN_IDENTITY}
    identity["option"] = [list(pair) for pair in identity["option"]]
    identity["split"] = list(identity["split"])
    identity["input"] = {key: list(value) if isinstance(value, tuple) else value for key, value in options.items()}
    if dataset.kind == "eeg":
        identity["subjects"] = args.subjects
    if configuration(args.model, args.dataset) != args.model:
        identity["configuration"] = configuration(args.model, args.dataset)
    if fitted_options(args.model, args.dataset):
        identity["fitted_options"] = fitted_options(args.model, args.dataset)
    identity["data"] = data_fingerprint
    return identity


def default_out(args) -> Path:
    """``runs/<model>-<dataset or folder name>-<time>``: where a run goes without ``--out``."""
    label = Path(args.dataset).resolve().name if get_dataset(args.dataset).kind == "folder" else args.dataset
    return Path("runs") / f"{args.model}-{label}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_training_arguments(args) -> tuple[DatasetSpec, dict, list]:
    """What ``train`` can check before any data is loaded or any process started: the model's and the
    dataset's names, that they fit each other, and the builder options (``-o``). Returns the dataset's
    record, the ``load_dataset`` options that fit it to the model and the ``-o`` options, typed."""
    get_spec(args.model)  # unknown names fail here, before any data is loaded
    dataset = get_dataset(args.dataset)  # unknown names fail here, with the known ones
    options = input_options(args.model, args.dataset)  # a model that takes no images fails here
    typed = typed_options(configuration(args.model, args.dataset), args.option)  # a bad -o value fails here
    return dataset, options, typed


COORDINATOR_NEEDS = "--coordinator needs --out (the same folder for every process), --num-processes and --process-id."


def _job_flags_missing(args) -> bool:
    """A process of a job (``--coordinator``) started without the flags every one of them needs."""
    return args.coordinator is not None and (args.out is None or args.num_processes is None or args.process_id is None)


def _refuse_job(args) -> str | None:
    """Why a job of several processes must not start (one line), or ``None``: checked in this process,
    before any of the job's processes (each a whole interpreter with JAX) is started."""
    cores = os.cpu_count() or 1
    if args.processes > cores:
        return (f"--processes {args.processes} asks for more processes than this machine's {cores} CPU cores; each "
                f"is a whole interpreter with its share of every batch: use at most {cores}.")  # fmt: skip
    if _job_flags_missing(args):
        return COORDINATOR_NEEDS
    if args.coordinator is not None:
        try:
            distribute.check_job(args.coordinator, args.num_processes, args.process_id)
        except distribute.ProcessGroupError as error:
            return str(error)
    try:
        check_training_arguments(args)
    except CnnkitError as error:
        return str(error)
    return None


def run_training(args) -> dict:
    """Train, evaluate and write the run folder; returns the metrics written to metrics.json.

    In a multi-process job (``--coordinator``) every process trains its share of each batch;
    process 0 alone writes the run folder and the reports."""
    started = time.perf_counter()
    if _job_flags_missing(args):
        raise BadOptionError(COORDINATOR_NEEDS)
    if args.coordinator is not None:
        distribute.join_processes(args.coordinator, args.num_processes, args.process_id, args.join_timeout)
        if not distribute.is_chief():
            return _train_share(args)
    dataset, options, args.option = check_training_arguments(args)
    args.epochs = epochs = args.epochs or dataset.default_epochs
    args.batch_size = args.batch_size or dataset.default_batch_size
    out = args.out or default_out(args)
    created = [path for path in (out, *out.parents) if not path.exists()]
    try:
        # folder_lock first checks the folder (a file, a path under a file or a read-only folder
        # fails now, not after loading), then takes the lock.
        with folder_lock(out):
            if runs.training_state(out) == "finished":
                raise RunExistsError(
                    f"{out} already holds a finished run (metrics.json); choose another --out or delete "
                    "that folder to train again."
                )
            remove_orphaned_temporaries(out)
            return _train_and_report(args, dataset, out, epochs, started, options)
    except BaseException:
        runs.remove_if_unused(created)
        raise


def _train_share(args) -> dict:
    """A process other than 0 of a multi-process job: train its share, write nothing."""
    dataset, options, args.option = check_training_arguments(args)
    args.batch_size = args.batch_size or dataset.default_batch_size
    if runs.training_state(args.out) in ("trained", "finished"):
        return {}  # process 0 writes the missing reports, if any, alone
    set_seed(args.seed)
    data = _load_data(args, dataset, options, args.out)
    model = _build_model(args, data)
    train(model, *_training_splits(args, data), epochs=args.epochs or dataset.default_epochs,
          learning_rate=args.learning_rate, out_dir=args.out, verbose=0)  # fmt: skip
    return {}


def _build_model(args, data):
    """The command's model, sized for ``data``, built in :func:`training_scope`; options the
    builder refuses (its ValueError, or an option name that no function under its ``**options``
    takes) are a bad argument (one line); a builder failing on its defaults, or with any other
    error, keeps its traceback."""
    with training_scope():
        try:
            options = {**fitted_options(args.model, args.dataset), **dict(args.option)}
            return build(configuration(args.model, args.dataset), input_shape=data.info.input_shape,
                         num_classes=data.info.num_classes, **options)  # fmt: skip
        except (ValueError, TypeError) as error:
            # a builder with **options passes names on: Python's own "unexpected keyword argument" for one
            # that nothing takes is a bad argument; any other TypeError is a fault and keeps its traceback
            if isinstance(error, TypeError) and "unexpected keyword argument" not in str(error):
                raise
            if not args.option or isinstance(error, CnnkitError):
                raise  # a builder failing on its defaults is a bug: it keeps its traceback
            raise BadOptionError(f"{args.model} refuses the options {dict(args.option)}: {error}") from error


def _training_splits(args, data):
    """The training and validation pipelines; in a job of processes (``--coordinator``, even of
    one), in full batches only (:func:`cnnkit.distribute.full_batches`)."""
    if args.coordinator is None:
        return data.train, data.validation
    return distribute.full_batches(data.train, args.batch_size), distribute.full_batches(data.validation,
                                                                                          args.batch_size)


def _load_data(args, dataset: DatasetSpec, options: dict, out: Path):
    """The dataset of a ``train`` command: EEG (DEAP), an image folder or a built-in one."""
    if dataset.kind == "eeg":
        return load_dataset(args.dataset, kind=options["kind"], subjects=args.subjects, batch_size=args.batch_size,
                            seed=args.seed)  # fmt: skip
    if dataset.kind == "points":
        return load_dataset(args.dataset, batch_size=args.batch_size, augment=args.augment != "none", seed=args.seed,
                            download=not args.no_download)  # fmt: skip
    if dataset.kind in ("waveforms", "characters"):
        return load_dataset(args.dataset, batch_size=args.batch_size, seed=args.seed, download=not args.no_download)
    if dataset.task == "segmentation":
        folder = {"fractions": args.split} if dataset.kind == "folder" else {"download": not args.no_download}
        return load_dataset(args.dataset, batch_size=args.batch_size, seed=args.seed, **folder)
    folder = dataset.kind == "folder"
    return load_dataset(
        args.dataset,
        batch_size=args.batch_size,
        augment=augment.random_shift(0.08, seed=args.seed) if args.augment == "shift" else None,
        seed=args.seed,
        download=not args.no_download,
        **({"fractions": args.split, "exclude": [out]} if folder else {}),
        **options,
    )


def _train_and_report(args, dataset: DatasetSpec, out: Path, epochs: int, started: float, options: dict) -> dict:
    set_seed(args.seed)
    data = _load_data(args, dataset, options, out)
    identity = run_identity(args, dataset, options, runs.fingerprint_data(args.dataset, data))
    record = runs.check_settings(out, identity)  # before anything in the folder is rewritten
    synthetic = data.info.synthetic
    finished_training = runs.training_state(out) == "trained"
    if not finished_training:
        model = _build_model(args, data)
    # The run can start: only now does the folder record what it is.
    if record:
        write_json(out / runs.SETTINGS, identity)
    if synthetic:
        made = "DEAP-format data" if dataset.kind == "eeg" else "data"
        recorded = "DEAP recordings" if dataset.kind == "eeg" else "real recordings or scans"
        write_text(out / runs.SYNTHETIC_NOTICE,
            f"This run trained and was evaluated on SYNTHETIC {made} generated by cnnkit ({data.info.name}), not on\n"
            f"{recorded}. Its figures say nothing about real data.\n"
        )  # fmt: skip
    runs.write_class_names(out, data.info.class_names)
    if finished_training:  # training finished before; only the reports are missing
        print(f"Training in {printable(out)} is already finished; writing the missing reports.")
        history = runs.training_history(out)
    else:
        built = configuration(args.model, args.dataset)
        if built != args.model:
            print(f"{args.model} on {args.dataset}: the paper's configuration for it, {built}.")
        print(
            f"Training {model.name} ({model.count_params():,} parameters) on {printable(args.dataset)} "
            f"{data.info.num_examples} for {epochs} epochs -> {printable(out)}"
        )
        task = task_of(model)
        loss, metrics = task.loss_and_metrics(model, data.info.num_classes, _scored(args, data))
        runs.record_backend(out, backends.current())  # a run resumed on another backend keeps both
        history = train(
            model,
            *_training_splits(args, data),
            epochs=epochs,
            learning_rate=args.learning_rate,
            loss=loss,
            metrics=metrics,
            out_dir=out,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    train_seconds = time.perf_counter() - started
    if distribute.process_count() > 1:  # the reports are process 0's alone: no collective from here on
        keras.distribution.set_distribution(None)

    best = runs.load_model_file(out / runs.MODEL, out)
    task = task_of(best)
    result = task.evaluate(best, data.test, data.info.class_names, _scored(args, data))
    notice = None
    if synthetic:
        notice = "SYNTHETIC data (not DEAP recordings)" if dataset.kind == "eeg" else f"SYNTHETIC data ({data.info.name})"
    result.write(out, notice)
    plots.save_figure(
        plots.learning_curves(history, title=f"{best.name} on {data.info.name}"), out / runs.LEARNING_CURVES
    )
    metrics = {
        "model": args.model,
        "configuration": configuration(args.model, args.dataset),
        "dataset": args.dataset,
        "task": task.name,
        "synthetic": synthetic,
        "epochs": int(len(history)),
        **result.summary,
        f"best_val_{task.headline}": float(history[f"val_{task.headline}"].max()),
        "parameters": int(best.count_params()),
        "train_seconds": round(train_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {backends.gpu_count()} GPUs",
        "backend": backends.current(),  # the one that evaluated; "backends" says which trained which epochs
        "backends": runs.backend_stretches(out, int(len(history))),
        "processes": distribute.process_count(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    if fitted_options(args.model, args.dataset):
        metrics["fitted_options"] = fitted_options(args.model, args.dataset)
    if data.info.provenance:
        metrics["data_provenance"] = data.info.provenance
    write_json(out / runs.METRICS, metrics)  # last: its presence marks the run as finished
    print(f"Test {task.headline_label} {result.headline:.4f} in {metrics['total_seconds']:.1f} s; results in {printable(out)}")
    return metrics


def _scored(args, data) -> list[int] | None:
    """The classes the run's headline averages over (a segmentation set leaves its background out)."""
    return scored_classes(data.info.num_classes, get_dataset(args.dataset).background_class)


def run_predict(args) -> None:
    """Print one line per image and rank: path, class, probability (and write --csv)."""
    import csv

    from cnnkit.inference import load_run, predict_files

    if args.csv is not None:
        check_output_file(args.csv)  # before predicting: a bad path must not cost the predictions
    run = load_run(args.run)
    task = task_of(run.model).name
    if task in ("separation", "tagging"):
        _predict_sequences(args, run, task)
        return
    if task == "segmentation":  # one mask per image
        from cnnkit.inference import predict_mask_files

        masks = args.masks or Path(args.run) / f"masks-{time.strftime('%Y%m%d-%H%M%S')}"
        table = predict_mask_files(run, args.images, masks)
        for path, mask, classes in table.itertuples(index=False, name=None):
            print(f"{path}\t{mask}\t{classes}")
        if args.csv is not None:
            with atomic_path(args.csv) as temporary:
                table.to_csv(temporary, index=False, errors="backslashreplace")
        return
    table = predict_files(run, args.images, top=args.top)
    # Tab-separated, quoted as CSV quotes: a class name holding a tab or a newline stays one field.
    lines = csv.writer(sys.stdout, delimiter="\t", lineterminator="\n")
    for path, rank, name, probability in table.itertuples(index=False, name=None):
        lines.writerow([path, printable(name), f"{probability:.4f}", *([f"(rank {rank})"] if args.top > 1 else [])])
    if args.csv is not None:
        with atomic_path(args.csv) as temporary:
            table.to_csv(temporary, index=False, errors="backslashreplace")


def _predict_sequences(args, run, task: str) -> None:
    """A separation run writes one WAV file per speaker of every WAV file given (into ``--sources``); a
    tagging run prints every text file given, tagged (punctuation and capitals restored, or each word's part
    of speech)."""
    from cnnkit.inference import separate_files, tag_files

    if task == "separation":
        folder = args.sources or Path(args.run) / f"sources-{time.strftime('%Y%m%d-%H%M%S')}"
        table = separate_files(run, args.images, folder)
        for path, speaker, wav, _ in table.itertuples(index=False, name=None):
            print(f"{path}\t{speaker}\t{wav}")
    else:
        table = tag_files(run, args.images)
        for path, _, output in table.itertuples(index=False, name=None):
            print(f"{path}\t{printable(output)}")
    if args.csv is not None:
        with atomic_path(args.csv) as temporary:
            table.to_csv(temporary, index=False, errors="backslashreplace")


def run_evaluate(args) -> None:
    from cnnkit.inference import evaluate_run, load_run

    metrics = evaluate_run(load_run(args.run), args.dataset, args.out)
    label = TASKS[metrics["task"]].headline_label
    print(f"{label[0].upper() + label[1:]} {metrics[metrics['headline']]:.4f} on {metrics['examples']} examples of "
          f"{printable(args.dataset)}; results in {printable(metrics['folder'])}")  # fmt: skip


def models_table() -> str:
    """Every registered model: name, year, parameters (default build), input, summary."""
    rows = [("model", "year", "parameters", "input", "takes", "summary")]
    for name in list_models():
        spec = get_spec(name)
        count = f"{spec.parameters:,}" if spec.parameters is not None else "-"
        shape = "x".join(map(str, spec.input_shape)) + (" fixed" if spec.fixed_input else "")
        rows.append((name, str(spec.year or "-"), count, shape, spec.takes, spec.summary))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.rjust(width) if i == 2 else cell.ljust(width) for i, (cell, width) in
                  enumerate(zip(row[:5], widths, strict=True))) + "  " + row[5]
        for row in rows
    )  # fmt: skip


class QuietWhenPipeCloses:
    """Standard output that goes quiet when its reader goes away (``... | head -1``).

    Command-line tools stop printing when the pipe closes; training goes on to the end and
    writes its run folder, instead of dying of a ``BrokenPipeError`` in the middle of an epoch.
    """

    def __init__(self, stream):
        self.stream, self.closed_pipe = stream, False

    def write(self, text):
        if self.closed_pipe:
            return len(text)
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._go_quiet()
            return len(text)

    def flush(self):
        if not self.closed_pipe:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._go_quiet()

    def _go_quiet(self):
        self.closed_pipe = True
        try:  # the interpreter flushes standard output at exit: point it at /dev/null
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _take_distribution_environment(args) -> None:
    """Keras' own variables stand for the flags that are not given (one process per machine)."""
    addresses = os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    if args.coordinator is None and addresses:
        args.coordinator = addresses.split(",")[0]
    for flag, variable in (("num_processes", "KERAS_DISTRIBUTION_NUM_PROCESSES"),
                           ("process_id", "KERAS_DISTRIBUTION_PROCESS_ID")):  # fmt: skip
        if getattr(args, flag) is None and os.environ.get(variable, "").strip().isdigit():
            setattr(args, flag, int(os.environ[variable]))


def _without_processes(arguments: list[str]) -> list[str]:
    """``arguments`` less ``--processes N`` (each launched process is one of the N)."""
    kept, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == "--processes":
            skip = True
        elif not argument.startswith("--processes="):
            kept.append(argument)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        _take_distribution_environment(args)
        several = args.processes > 1 or args.coordinator is not None
        if several and args.backend not in (None, "jax"):
            print(f"error: several processes train with keras.distribution on JAX, not on {args.backend}; "
                  "use --backend jax.", file=sys.stderr)  # fmt: skip
            return 2
        if several and importlib.util.find_spec("jax") is None:
            print(f"error: several processes train on JAX, which is not installed: {backends.INSTALL['jax']}.",
                  file=sys.stderr)  # fmt: skip
            return 2
        refused = _refuse_job(args) if several and not args.supervised else None
        if refused is not None:  # before any process of the job starts
            print(f"error: {refused}", file=sys.stderr)
            return 2
        if args.processes > 1 and args.coordinator is None:
            arguments = _without_processes(list(sys.argv[1:] if argv is None else argv))
            if args.out is None:  # every process must write to (or read) the same folder
                try:
                    arguments += ["--out", str(default_out(args))]
                except UnknownNameError as error:
                    print(f"error: {error}", file=sys.stderr)
                    return 2
            return launch.run_processes(arguments, args.processes)
        if args.coordinator is not None and not args.supervised:
            return launch.supervise(list(sys.argv[1:] if argv is None else argv), args.process_id or 0,
                                    args.num_processes or 1)  # fmt: skip
        if several:
            args.backend = "jax"
    if args.backend is not None and args.backend != backends.current():
        try:
            backends.choose(args.backend)
        except backends.BackendError as error:
            if argv is not None or importlib.util.find_spec(backends.PACKAGES[args.backend]) is None:
                print(f"error: {error}", file=sys.stderr)  # called from Python, or not installed: one line
                return 2
            # Keras read its backend when cnnkit was imported: run this same command again with the
            # backend set before that import (the new process replaces this one).
            os.execve(sys.executable, [sys.executable, "-m", "cnnkit", *sys.argv[1:]],
                      {**os.environ, "KERAS_BACKEND": args.backend})  # fmt: skip
    stdout = sys.stdout
    sys.stdout = QuietWhenPipeCloses(stdout)
    try:
        return _dispatch(args)
    finally:
        sys.stdout = stdout


def _dispatch(args) -> int:
    try:
        if args.command == "models":
            print(models_table())
        elif args.command == "datasets":
            takers = {}
            for model in list_models():
                takers.setdefault(get_spec(model).takes, []).append(model)
            print(datasets_table(takers))
        elif args.command == "predict":
            run_predict(args)
        elif args.command == "evaluate":
            run_evaluate(args)
        else:
            run_training(args)
    except (UnknownNameError, BadOptionError, OutputFolderError, folders.BadImageFilesError,
            folders.FolderDatasetError, RunFolderError, BadInputFileError) as error:  # a bad argument: as argparse's errors  # fmt: skip
        print(f"error: {error}", file=sys.stderr)
        return 2
    except CnnkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    # Anything else is not bad input but a fault (in cnnkit, Keras or the machine): it keeps its
    # traceback and exits with status 1, as Python does; a full disk is said in one line.
    except OSError as error:
        if not is_disk_full(error):
            raise
        where = getattr(error, "filename", None) or getattr(args, "out", None) or "the output folder"
        print(f"error: the disk is full while writing {where} ({error.strerror or error}); free some space "
              "and run the same command again.", file=sys.stderr)  # fmt: skip
        return 1
    return 0
