"""Conv-TasNet (Luo and Mesgarani, 2019): separating speakers with convolutions along time.

The network, as the paper's Figure 1 and section II describe it:

- **Encoder**: a 1D convolution of ``N`` filters of ``L`` samples, stride ``L / 2``, no bias, then a
  ReLU: the waveform becomes ``frames x N`` non-negative weights of a learned basis (in place of an
  STFT's magnitudes).
- **Separator**, a temporal convolutional network (TCN): a layer norm and a 1x1 bottleneck to ``B``
  channels; ``R`` repeats of ``X`` blocks, block ``x`` being a 1x1 convolution to ``H`` channels, PReLU,
  norm, a depthwise convolution of kernel ``P`` with dilation ``2**x``, PReLU, norm, and two 1x1
  convolutions, one back to ``B`` channels added to the block's input (the residual path), one to
  ``Sc`` channels summed over all blocks (the skip path); then PReLU, a 1x1 convolution to
  ``speakers x N`` and a sigmoid: one mask per speaker over the encoder's output.
- **Decoder**: each masked representation back to a waveform by a transposed 1D convolution (the
  encoder's shape, no bias).

Non-causal (global layer norm: statistics over the whole utterance) or causal (cumulative layer norm:
statistics over the frames so far; every depthwise convolution padded on the past side only).

Counting rule for the paper's 5.1M: every convolution weight, a bias on every 1x1 and depthwise
convolution of the separator, none on the encoder and decoder, one PReLU parameter per PReLU (as
PyTorch's ``nn.PReLU()``), a gain and a bias per channel for each layer norm, and the last block's
residual 1x1 convolution, which a PyTorch module holds although nothing reads its output. Keras'
functional graph leaves that one convolution out, so ``count_params()`` is 4,984,881 for the paper's
configuration and :func:`paper_parameter_count` 5,050,545 (:data:`PAPER_PARAMETERS`).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from cnnkit.models.layers import PACKAGE
from cnnkit.models.registry import register

PAPER = ("Luo & Mesgarani (2019). Conv-TasNet: Surpassing Ideal Time-Frequency Magnitude Masking for Speech "
         "Separation. IEEE/ACM TASLP 27(8)")  # fmt: skip
PAPER_PARAMETERS = 5_050_545  # the best configuration (Table I's 5.1M), counted by the rule above
PAPER_CONFIGURATION = {
    "filters": 512,
    "length": 16,
    "bottleneck": 128,
    "hidden": 512,
    "skip": 128,
    "kernel": 3,
    "blocks": 8,
    "repeats": 3,
}
# Notebook scale, for the SYNTHETIC two-voice mixtures on a CPU: a quarter of the paper's widths, 6 blocks
# of dilations 1..32 repeated twice (receptive field 2,032 samples, 0.25 s at 8 kHz).
SMALL_CONFIGURATION = {"filters": 128, "bottleneck": 64, "hidden": 128, "skip": 64, "blocks": 6, "repeats": 2}


@keras.saving.register_keras_serializable(package=PACKAGE)
class GlobalLayerNorm(layers.Layer):
    """gLN: each example normalized by the mean and variance over all its frames and channels, then a
    gain and a bias per channel. Input and output ``(batch, frames, channels)``."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, x):
        mean = ops.mean(x, axis=(1, 2), keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=(1, 2), keepdims=True)
        return self.gamma * (x - mean) / ops.sqrt(variance + self.epsilon) + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class CumulativeLayerNorm(layers.Layer):
    """cLN, the causal norm: frame ``t`` normalized by the mean and variance over frames ``0..t`` and all
    channels, then a gain and a bias per channel. Input and output ``(batch, frames, channels)``."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, x):
        channels = ops.cast(ops.shape(x)[-1], x.dtype)
        count = channels * ops.cumsum(ops.ones_like(x[..., :1]), axis=1)  # values seen up to each frame
        total = ops.cumsum(ops.sum(x, axis=-1, keepdims=True), axis=1)
        squares = ops.cumsum(ops.sum(ops.square(x), axis=-1, keepdims=True), axis=1)
        mean = total / count
        variance = ops.maximum(squares / count - ops.square(mean), 0.0)
        return self.gamma * (x - mean) / ops.sqrt(variance + self.epsilon) + self.beta

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def paper_parameter_count(model: keras.Model) -> int:
    """The paper's count (see the module docstring): Keras' count plus the last block's residual 1x1
    convolution, ``hidden x bottleneck`` weights and ``bottleneck`` biases, which the graph leaves out."""
    bottleneck = model.get_layer("bottleneck").filters
    hidden = model.get_layer([layer.name for layer in model.layers if layer.name.endswith("_in")][-1]).filters
    return model.count_params() + (hidden + 1) * bottleneck


def _norm(causal: bool, name: str):
    return CumulativeLayerNorm(name=name) if causal else GlobalLayerNorm(name=name)


def _prelu(name: str):
    return layers.PReLU(shared_axes=[1, 2], name=name)  # one parameter, as the paper's PyTorch code


def tcn_block(
    x, hidden: int, bottleneck: int, skip: int, kernel: int, dilation: int, name: str, *, causal: bool = False
):
    """One block of the TCN: ``(batch, frames, bottleneck)`` in; ``(residual output, skip output)`` out,
    ``(batch, frames, bottleneck)`` and ``(batch, frames, skip)``."""
    y = layers.Conv1D(hidden, 1, name=f"{name}_in")(x)
    y = _norm(causal, f"{name}_norm1")(_prelu(f"{name}_prelu1")(y))
    if causal:  # the past side only: output t sees inputs t - (kernel - 1) * dilation .. t
        y = layers.ZeroPadding1D(((kernel - 1) * dilation, 0), name=f"{name}_pad")(y)
    y = layers.DepthwiseConv1D(
        kernel, dilation_rate=dilation, padding="valid" if causal else "same", name=f"{name}_depthwise"
    )(y)
    y = _norm(causal, f"{name}_norm2")(_prelu(f"{name}_prelu2")(y))
    residual = layers.Add(name=f"{name}_residual")([x, layers.Conv1D(bottleneck, 1, name=f"{name}_res")(y)])
    return residual, layers.Conv1D(skip, 1, name=f"{name}_skip")(y)


def valid_length(samples: int, length: int = 16) -> int:
    """The shortest input of at least ``samples`` samples that the encoder covers exactly: ``length`` plus a
    multiple of its stride ``length / 2`` (a longer mixture is zero-padded to it, and the estimates cut back)."""
    stride = length // 2
    return length + max(0, -(-(samples - length) // stride)) * stride


def receptive_field(length: int = 16, kernel: int = 3, blocks: int = 8, repeats: int = 3) -> int:
    """The TCN's receptive field in samples: in frames ``1 + repeats * sum_x (kernel - 1) * 2**x``
    (notebook 00's arithmetic with dilation: a kernel of ``k`` taps ``d`` apart spans ``(k - 1) d + 1``),
    then frames to samples through the encoder (``(frames - 1) * stride + length``, stride ``length / 2``).
    1.53 s at 8 kHz for the paper's best configuration."""
    frames = 1 + repeats * sum((kernel - 1) * 2**x for x in range(blocks))
    return (frames - 1) * (length // 2) + length


@register(summary="Conv-TasNet: voices separated by a learned encoder, a dilated TCN and one mask per speaker",
          year=2019, paper=PAPER, parameters=4_984_881, takes="waveforms", task="separation", outputs="speakers",
          fitted={"speech_synthetic": SMALL_CONFIGURATION},
          small_build={"input_shape": (400,), "filters": 16, "bottleneck": 8, "hidden": 16, "skip": 8, "blocks": 3,
                       "repeats": 1})  # fmt: skip
def conv_tasnet(
    input_shape=(32000,),
    speakers=2,
    filters=512,
    length=16,
    bottleneck=128,
    hidden=512,
    skip=128,
    kernel=3,
    blocks=8,
    repeats=3,
    causal=False,
):
    """Conv-TasNet (see the module docstring); the defaults are the paper's best configuration (4 s at
    8 kHz in). Input ``(batch, samples)``, ``samples - length`` a multiple of ``length / 2``; output
    ``(batch, speakers, samples)``, one waveform per speaker. ``input_shape=(None,)`` builds the same
    network (the same weights) for mixtures of any length; give it lengths that :func:`valid_length`
    returns (another length would lose its last samples in the encoder)."""
    (samples,) = input_shape
    stride = length // 2
    if length % 2:
        raise ValueError(f"Conv-TasNet needs an even encoder length L (its stride is L / 2), not {length}.")
    if samples is not None and (samples < length or (samples - length) % stride):
        below = length + max(samples - length, 0) // stride * stride
        raise ValueError(
            f"Conv-TasNet with L = {length} needs an even L and samples - L a multiple of L / 2 = "
            f"{stride}; {samples} samples is not (the nearest that are: {below}, {below + stride})."
        )
    inputs = keras.Input(shape=(samples,), name="mixture")
    wave = layers.Reshape((-1, 1), name="channel")(inputs)  # -1: any length when samples is None
    encoded = layers.Conv1D(
        filters, length, strides=stride, use_bias=False, activation="relu", name="encoder"
    )(wave)
    x = _norm(causal, "bottleneck_norm")(encoded)
    x = layers.Conv1D(bottleneck, 1, name="bottleneck")(x)
    skips = []
    for r in range(repeats):
        for b in range(blocks):
            x, s = tcn_block(x, hidden, bottleneck, skip, kernel, 2**b, f"tcn{r + 1}_{b + 1}", causal=causal)
            skips.append(s)
    y = layers.Add(name="skip_sum")(skips) if len(skips) > 1 else skips[0]
    y = _prelu("mask_prelu")(y)
    masks = layers.Conv1D(speakers * filters, 1, activation="sigmoid", name="masks")(y)
    masks = layers.Reshape((-1, speakers, filters), name="masks_per_speaker")(masks)
    masked = layers.Multiply(name="masked")([masks, layers.Reshape((-1, 1, filters), name="encoded")(encoded)])
    masked = layers.Permute((2, 1, 3), name="speakers_first")(masked)  # (batch, speakers, frames, filters)
    decoder = layers.Conv1DTranspose(1, length, strides=stride, use_bias=False, name="decoder")
    decoded = layers.TimeDistributed(decoder, name="decoded")(masked)  # (batch, speakers, samples, 1)
    outputs = layers.Reshape((speakers, -1), name="sources")(decoded)
    return keras.Model(inputs, outputs, name="conv_tasnet_causal" if causal else "conv_tasnet")
