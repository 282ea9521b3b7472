"""StreamResampler: block-by-block output equals scipy's whole-signal resample_poly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.signal import resample_poly

from rnnstream.connectors.resampler import StreamResampler
from rnnstream.errors import ConfigError

RATES = [48000, 44100, 32000, 22050, 16000, 11025, 8000]


@given(
    rate_in=st.sampled_from(RATES),
    n=st.integers(0, 6000),
    cuts=st.lists(st.integers(0, 6000), max_size=6),
    seed=st.integers(0, 2**16),
)
def test_chunked_equals_whole_signal(rate_in, n, cuts, seed):
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    rs = StreamResampler(rate_in, 16000)
    parts = np.split(x, sorted(c % (n + 1) for c in cuts))
    y = np.concatenate([rs.push(p) for p in parts] + [rs.flush()])
    g = np.gcd(rate_in, 16000)
    want = resample_poly(x, 16000 // g, rate_in // g) if n else np.empty(0)
    assert y.dtype == np.float32 and y.shape == want.shape
    np.testing.assert_allclose(y, want, atol=2e-6)
    assert rs.n_out == y.size


@pytest.mark.parametrize("rate_in", [48000, 44100, 8000])
def test_outputs_wait_only_for_the_input_they_depend_on(rate_in):
    """Output j is final as soon as input_index(j) has arrived, and not before that many samples."""
    x = np.random.default_rng(0).standard_normal(3000).astype(np.float32)
    whole = StreamResampler(rate_in, 16000)
    ref = np.concatenate([whole.push(x), whole.flush()])
    for k in (1, 17, 1000, 2999):
        rs = StreamResampler(rate_in, 16000)
        y = rs.push(x[:k])
        np.testing.assert_allclose(y, ref[: y.size], atol=2e-6)
        assert all(rs.input_index(j) <= k - 1 for j in range(y.size))
        assert rs.input_index(y.size) >= k  # the next output needs a sample not seen yet
        # Changing the future does not change what was already emitted.
        x2 = x.copy()
        x2[k:] = 0
        rs2 = StreamResampler(rate_in, 16000)
        np.testing.assert_array_equal(rs2.push(x2[:k]), y)


def test_identity_passes_samples_through():
    rs = StreamResampler(16000, 16000)
    x = np.arange(5, dtype=np.float32)
    assert rs.push(x).tolist() == x.tolist() and rs.flush().size == 0 and rs.input_index(3) == 3


def test_misuse_is_reported():
    with pytest.raises(ConfigError):
        StreamResampler(0, 16000)
    with pytest.raises(ConfigError):
        StreamResampler(44100.5, 16000)
    rs = StreamResampler(48000, 16000)
    rs.flush()
    with pytest.raises(ConfigError, match="after flush"):
        rs.push(np.zeros(3, np.float32))
