"""The environment that makes TensorFlow, JAX (XLA) and PyTorch (OpenMP) compute on one thread.

tests/conftest.py sets it in each test process under ``-n 2``, so that the two processes, and the
notebook kernels and subprocesses they start, do not fight over two cores; bench/thread_pairs.py
measures what it saves."""

ONE_THREAD = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "2",  # two: a tf.data pipeline beside the step it feeds
    "OMP_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
