"""DeepTau loss ``tau_crossentropy_v2`` and the original's monitoring metrics (keras.ops, any backend).

Classes are [e, mu, tau, jet]. The per-class factors ``TauLossesSFs`` are normalised to sum to 4; the
probabilities are clipped to [1e-7, 1 - 1e-7] before every logarithm. Each function returns one value per tau.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from ..core.errors import TaumlError

E, MU, TAU, JET = 0, 1, 2, 3
EPSILON = 1e-7
DEFAULT_SFS = (1.0, 2.5, 5.0, 1.5)
FOCAL_FACTOR = 1.63636  # normalisation of the focal terms F_e, F_mu, F_jet (gamma 2, with the tau decay factor)
FOCAL_CMB_FACTOR = 1.17153  # normalisation of F_cmb (gamma 0.5, inverse)
FOCAL_WEIGHT = 5.0  # weight of the focal terms in tau_crossentropy_v2
DECAY_SLOPE, DECAY_THRESHOLD = 70.0, 0.1

_register = keras.saving.register_keras_serializable(package="tauml")


def class_factors(sfs: Sequence[float]) -> tuple[float, float, float, float]:
    """TauLossesSFs [e, mu, tau, jet] scaled to sum to 4: [1, 2.5, 5, 1.5] -> [0.4, 1, 2, 0.6]."""
    sfs = [float(x) for x in sfs]
    if len(sfs) != 4 or min(sfs) < 0 or sum(sfs) <= 0:
        raise TaumlError(f"SetupNN.TauLossesSFs {sfs}: expected 4 non-negative factors [e, mu, tau, jet]")
    norm = 4.0 / sum(sfs)
    return tuple(x * norm for x in sfs)


def _prepare(y_true, y_pred):
    y_pred = ops.cast(y_pred, "float32")
    return ops.cast(y_true, "float32"), y_pred


def _clip(p):
    return ops.clip(p, EPSILON, 1 - EPSILON)


def _decay(y_pred):
    """Smooth step in p_tau around 0.1: the e/mu/jet terms act on taus the network already calls tau-like."""
    return (ops.tanh(DECAY_SLOPE * (y_pred[:, TAU] - DECAY_THRESHOLD)) + 1) / 2


def _binary(y_true, y_pred, genuine, fake):
    """Binary cross-entropy of p_genuine / (p_genuine + p_fake)."""
    y_true, y_pred = _prepare(y_true, y_pred)
    ratio = _clip(y_pred[:, genuine] / (y_pred[:, genuine] + y_pred[:, fake] + EPSILON))
    return -y_true[:, genuine] * ops.log(ratio) - y_true[:, fake] * ops.log(1 - ratio)


def _cross(y_true, y_pred, index, inverse=False):
    y_true, y_pred = _prepare(y_true, y_pred)
    p = _clip(y_pred[:, index])
    if inverse:
        return -(1 - y_true[:, index]) * ops.log(1 - p)
    return -y_true[:, index] * ops.log(p)


def _focal(y_true, y_pred, index, gamma, decay, inverse):
    y_true, y_pred = _prepare(y_true, y_pred)
    p = _clip(y_pred[:, index])
    factor = _decay(y_pred) if decay else 1.0
    if inverse:
        return -factor * (1 - y_true[:, index]) * ops.power(p, gamma) * ops.log(1 - p)
    return -factor * y_true[:, index] * ops.power(1 - p, gamma) * ops.log(p)


@_register
def Le(y_true, y_pred):
    return _binary(y_true, y_pred, TAU, E)


@_register
def Lmu(y_true, y_pred):
    return _binary(y_true, y_pred, TAU, MU)


@_register
def Ljet(y_true, y_pred):
    return _binary(y_true, y_pred, TAU, JET)


@_register
def He(y_true, y_pred):
    return _cross(y_true, y_pred, E)


@_register
def Hmu(y_true, y_pred):
    return _cross(y_true, y_pred, MU)


@_register
def Htau(y_true, y_pred):
    return _cross(y_true, y_pred, TAU)


@_register
def Hjet(y_true, y_pred):
    return _cross(y_true, y_pred, JET)


@_register
def Hbin(y_true, y_pred):
    return _cross(y_true, y_pred, TAU, inverse=True)


def _cross_decayed(y_true, y_pred, index, inverse):
    decay = _decay(ops.cast(y_pred, "float32"))
    return (1 - decay if inverse else decay) * _cross(y_true, y_pred, index)


@_register
def Hcat_e(y_true, y_pred):
    return _cross_decayed(y_true, y_pred, E, False)


@_register
def Hcat_mu(y_true, y_pred):
    return _cross_decayed(y_true, y_pred, MU, False)


@_register
def Hcat_jet(y_true, y_pred):
    return _cross_decayed(y_true, y_pred, JET, False)


@_register
def Hcat_eInv(y_true, y_pred):
    return _cross_decayed(y_true, y_pred, E, True)


@_register
def Hcat_muInv(y_true, y_pred):
    return _cross_decayed(y_true, y_pred, MU, True)


@_register
def Hcat_jetInv(y_true, y_pred):
    return _cross_decayed(y_true, y_pred, JET, True)


@_register
def Fe(y_true, y_pred):
    return FOCAL_FACTOR * _focal(y_true, y_pred, E, 2.0, True, False)


@_register
def Fmu(y_true, y_pred):
    return FOCAL_FACTOR * _focal(y_true, y_pred, MU, 2.0, True, False)


@_register
def Fjet(y_true, y_pred):
    return FOCAL_FACTOR * _focal(y_true, y_pred, JET, 2.0, True, False)


@_register
def Fcmb(y_true, y_pred):
    return FOCAL_CMB_FACTOR * _focal(y_true, y_pred, TAU, 0.5, False, True)


@_register
def tau_crossentropy(y_true, y_pred, tau_losses_sfs=DEFAULT_SFS):
    s = class_factors(tau_losses_sfs)
    return s[E] * Le(y_true, y_pred) + s[MU] * Lmu(y_true, y_pred) + s[JET] * Ljet(y_true, y_pred)


@_register
def tau_crossentropy_v2(y_true, y_pred, tau_losses_sfs=DEFAULT_SFS):
    """s_tau H_tau + (s_e + s_mu + s_jet) F_cmb + 5 (s_e F_e + s_mu F_mu + s_jet F_jet)."""
    s = class_factors(tau_losses_sfs)
    return (s[TAU] * Htau(y_true, y_pred) + (s[E] + s[MU] + s[JET]) * Fcmb(y_true, y_pred)
            + FOCAL_WEIGHT * (s[E] * Fe(y_true, y_pred) + s[MU] * Fmu(y_true, y_pred)
                              + s[JET] * Fjet(y_true, y_pred)))


@_register
class TauCrossentropyV2(keras.losses.Loss):
    """The training loss; the mean over the batch of the sample-weighted per-tau values."""

    def __init__(self, tau_losses_sfs: Sequence[float] = DEFAULT_SFS, name: str = "tau_crossentropy_v2", **kwargs):
        super().__init__(name=name, **kwargs)
        class_factors(tau_losses_sfs)
        self.tau_losses_sfs = tuple(float(x) for x in tau_losses_sfs)

    def call(self, y_true, y_pred):
        return tau_crossentropy_v2(y_true, y_pred, self.tau_losses_sfs)

    def get_config(self):
        return {**super().get_config(), "tau_losses_sfs": list(self.tau_losses_sfs)}


# The original's metric list, in its order ("accuracy" is Keras' categorical accuracy on one-hot targets).
METRIC_FUNCTIONS = (tau_crossentropy, tau_crossentropy_v2, Le, Lmu, Ljet, He, Hmu, Htau, Hjet, Hcat_e, Hcat_mu,
                    Hcat_jet, Hbin, Hcat_eInv, Hcat_muInv, Hcat_jetInv, Fe, Fmu, Fjet, Fcmb)
METRIC_NAMES = ("accuracy",) + tuple(f.__name__ for f in METRIC_FUNCTIONS)


def metrics(tau_losses_sfs: Sequence[float] = DEFAULT_SFS, prefix: str = "") -> list:
    """Fresh metric objects (Keras needs separate ones for ``metrics`` and ``weighted_metrics``)."""
    sfs = tuple(float(x) for x in tau_losses_sfs)
    out: list = [keras.metrics.CategoricalAccuracy(name=f"{prefix}accuracy")]
    for fn in METRIC_FUNCTIONS:
        kwargs = {"tau_losses_sfs": sfs} if fn in (tau_crossentropy, tau_crossentropy_v2) else {}
        out.append(keras.metrics.MeanMetricWrapper(fn, name=f"{prefix}{fn.__name__}", **kwargs))
    return out
