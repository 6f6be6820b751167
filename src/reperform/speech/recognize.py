"""Phone recognition without a transcript: pocketsphinx's all-phone search with its phone LM.

Noisy (a phone error rate around 40 % is typical), but the timing of closures and vowels is
still far better than an energy envelope, and it works for any English speech Whisper could
not transcribe.
"""

from __future__ import annotations

import logging
from typing import Any

from ..records import Audio
from .align import SPHINX_FRAME_S, AlignedPhone, sphinx_decoder, to_pcm16, warm_up
from .phonetics import SILENCE, normalize_phone

log = logging.getLogger(__name__)

#: Language weight and phone insertion penalty: the values pocketsphinx documents for its phone
#: LM; a higher insertion penalty (smaller pip) gives fewer, longer phones.
PHONE_LM_WEIGHT = 2.0
PHONE_INSERTION_PENALTY = 0.3
#: Wide beams: the phone search space is small, narrow beams only lose accuracy.
PHONE_BEAM = 1e-20


class PhoneRecognizer:
    """All-phone recognition; each call decodes on a fresh, warmed-up decoder (~0.03 s to build
    once the model files are cached), so results depend only on the audio (see ``align.warm_up``)."""

    @staticmethod
    def _decoder() -> Any:
        import pocketsphinx

        decoder = sphinx_decoder(
            allphone=pocketsphinx.get_model_path("en-us/en-us-phone.lm.bin"),
            lw=PHONE_LM_WEIGHT, pip=PHONE_INSERTION_PENALTY, beam=PHONE_BEAM, pbeam=PHONE_BEAM,
            lm=None, dict=None, bestpath=False,
        )
        warm_up(decoder)
        return decoder

    def recognize(self, audio: Audio) -> list[AlignedPhone]:
        """Phones with times; empty when the decoder finds nothing."""
        if audio.duration_s < 0.1:
            return []
        pcm = to_pcm16(audio)
        d = self._decoder()
        try:
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
        except RuntimeError as exc:
            log.warning("phone recognition failed: %s", exc)
            return []
        segs = [(s.word, s.start_frame, s.end_frame) for s in d.seg()]
        out: list[AlignedPhone] = []
        for word, start, end in segs:
            label = normalize_phone(word) if not word.startswith("+") else SILENCE
            t0 = min(start * SPHINX_FRAME_S, audio.duration_s)
            t1 = min((end + 1) * SPHINX_FRAME_S, audio.duration_s)
            if t1 > t0:
                out.append(AlignedPhone(t0, t1, label, 0))
        return out
