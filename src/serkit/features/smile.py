"""openSMILE features (Eyben et al.): eGeMAPSv02 and ComParE_2016, functionals or LLDs.

Uses audeering's ``opensmile`` package; serkit only feeds it 16 kHz mono float32 from
:mod:`serkit.data.audio`, so every format and bad-input check is shared with the rest.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from serkit.data.audio import SAMPLE_RATE
from serkit.errors import MissingDependencyError, UnknownKeyError

#: serkit feature name -> (opensmile FeatureSet, FeatureLevel)
SMILE_FEATURES = {
    "egemaps": ("eGeMAPSv02", "Functionals"),
    "compare": ("ComParE_2016", "Functionals"),
    "egemaps_lld": ("eGeMAPSv02", "LowLevelDescriptors"),
    "compare_lld": ("ComParE_2016", "LowLevelDescriptors"),
}


@lru_cache(maxsize=8)
def _smile(name: str):
    try:
        import opensmile
    except ImportError:  # pragma: no cover - opensmile is a core dependency
        raise MissingDependencyError("opensmile", "all") from None
    if name not in SMILE_FEATURES:
        raise UnknownKeyError("openSMILE feature", name, SMILE_FEATURES)
    fs, lvl = SMILE_FEATURES[name]
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, fs),
                           feature_level=getattr(opensmile.FeatureLevel, lvl))


def smile_feature_names(name: str) -> list[str]:
    """Column names of an openSMILE feature set."""
    return list(_smile(name).feature_names)


def smile_extract(signal: np.ndarray, name: str, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Run openSMILE on a mono signal.

    Args:
        signal: ``(S,)`` float32.
        name: a key of :data:`SMILE_FEATURES`.
        sample_rate: rate in Hz.

    Returns:
        ``(D,)`` functionals or ``(T, D)`` LLDs (10 ms hop), float32.
    """
    df = _smile(name).process_signal(signal, sample_rate)
    x = df.to_numpy(dtype=np.float32)
    x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    return x[0] if SMILE_FEATURES[name][1] == "Functionals" else x
