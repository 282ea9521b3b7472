"""The decoding flags under their former home, for callers that import them from here.

The ASR commands moved to :mod:`~rnnstream.cli.transcribe`, :mod:`~rnnstream.cli.corpus`,
:mod:`~rnnstream.cli.train` and :mod:`~rnnstream.cli.eval`; the flags live in
:mod:`~rnnstream.cli.options`. :func:`decoder_options` gives ``load_asr`` keyword arguments
from the same validated config the commands build.
"""

from __future__ import annotations

import argparse

from rnnstream.cli.options import add_decoder_args, asr_config

__all__ = ["add_decoder_args", "decoder_options"]


def decoder_options(args: argparse.Namespace) -> dict:
    """``load_asr`` keyword arguments from :func:`add_decoder_args` flags (reads the LM text)."""
    from rnnstream.runtime.build import read_lm_text

    cfg = asr_config(args)
    return {"beam": cfg.beam, "lm_sentences": None if cfg.lm is None else read_lm_text(cfg.lm, "--lm"),
            "alpha": cfg.lm_weight, "beta": cfg.word_bonus, "order": cfg.lm_order,
            "blank_penalty": cfg.blank_penalty, "companion": cfg.companion,
            "companion_weight": cfg.companion_weight}
