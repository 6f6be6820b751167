"""Phone inventories and text handling: ARPAbet, IPA → ARPAbet, transcript tokenising, stress.

Pure functions and tables only (no subprocesses, no models), so every rule is unit-testable.
The ARPAbet set is the 39-phone CMU set that pocketsphinx's en-us model uses, written without
stress digits; ``SIL`` stands for silence.
"""

from __future__ import annotations

import re
import unicodedata


def _word_set(words: str) -> frozenset[str]:
    """A frozenset from a whitespace-separated string (tables stay readable as prose)."""
    return frozenset(words.split())


#: The CMU/ARPAbet phones of pocketsphinx's en-us acoustic model (no stress digits).
VOWELS: frozenset[str] = _word_set("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW")
CONSONANTS: frozenset[str] = _word_set("B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH")
ARPABET: frozenset[str] = VOWELS | CONSONANTS
SILENCE = "SIL"

#: IPA phone (as espeak-ng prints it with ``--ipa --sep=_``) → ARPAbet. Multi-symbol entries are
#: matched first (longest match), so diphthongs and r-coloured vowels map as one unit.
IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # vowels and diphthongs
    "aɪɚ": ("AY", "ER"), "aɪə": ("AY", "ER"), "aʊɚ": ("AW", "ER"),
    "ɑːɹ": ("AA", "R"), "ɔːɹ": ("AO", "R"), "oːɹ": ("AO", "R"), "ɛɹ": ("EH", "R"), "ɪɹ": ("IH", "R"),
    "ʊɹ": ("UH", "R"), "eə": ("EH", "R"), "iə": ("IY", "AH"), "ʊə": ("UH", "R"),
    "aɪ": ("AY",), "aʊ": ("AW",), "eɪ": ("EY",), "oʊ": ("OW",), "əʊ": ("OW",), "ɔɪ": ("OY",),
    "ɑː": ("AA",), "ɔː": ("AO",), "iː": ("IY",), "uː": ("UW",), "ɜː": ("ER",), "əl": ("AH", "L"),
    "ɐ": ("AH",), "ə": ("AH",), "ʌ": ("AH",), "ɛ": ("EH",), "e": ("EH",), "æ": ("AE",), "a": ("AE",),
    "ɑ": ("AA",), "ɒ": ("AA",), "ɔ": ("AO",), "o": ("OW",), "i": ("IY",), "ɪ": ("IH",), "ᵻ": ("IH",),
    "ʊ": ("UH",), "u": ("UW",), "ɚ": ("ER",), "ɝ": ("ER",), "ɜ": ("ER",), "y": ("UW",), "ø": ("EH",),
    # consonants
    "tʃ": ("CH",), "dʒ": ("JH",), "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",),
    "g": ("G",), "ɡ": ("G",), "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",), "s": ("S",),
    "z": ("Z",), "ʃ": ("SH",), "ʒ": ("ZH",), "h": ("HH",), "m": ("M",), "n": ("N",), "ŋ": ("NG",),
    "l": ("L",), "ɹ": ("R",), "r": ("R",), "ɾ": ("T",), "ʔ": ("T",), "w": ("W",), "ʍ": ("W",),
    "j": ("Y",), "x": ("K",), "ç": ("HH",), "ɬ": ("L",), "ɫ": ("L",), "ɲ": ("N", "Y"),
}
_IPA_KEYS_LONGEST_FIRST = sorted(IPA_TO_ARPABET, key=len, reverse=True)
#: Syllabic consonants (``n̩``) are pronounced with a reduced vowel in CMU spelling.
_SYLLABIC = {"n": ("AH", "N"), "l": ("AH", "L"), "m": ("AH", "M")}
_PRIMARY, _SECONDARY = "ˈ", "ˌ"

#: Function words are unstressed in running speech even though the dictionary (and espeak, which
#: sees them in isolation) gives them a stressed vowel; marking them 0 keeps pitch accents and
#: emphasis on content words.
FUNCTION_WORDS: frozenset[str] = _word_set(
    """a an the and or but nor so if as at by for from in into of off on onto out over to up with
    about than that this these those then there their theirs they them he him his she her hers it its
    we us our you your yours i me my mine is am are was were be been being do does did have has had
    can could will would shall should may might must not no yes just very what which who whom whose
    when where why how all any some such own same too also only both each few more most other
    i'm you're we're they're it's that's there's don't doesn't didn't can't won't isn't aren't wasn't
    i'll you'll he's she's we'll i've you've we've let's"""
)

_WORD_RE = re.compile(r"[a-z0-9]+(?:['’][a-z]+)*")


def strip_stress(label: str) -> tuple[str, int]:
    """``"AH0"`` → ``("AH", 0)``; labels without a digit get stress 0."""
    if label and label[-1].isdigit():
        return label[:-1], int(label[-1])
    return label, 0


def normalize_phone(label: str) -> str:
    """Map a decoder label to our inventory: stress digits dropped, fillers and noise → SIL."""
    base, _ = strip_stress(label.upper())
    return base if base in ARPABET else SILENCE


def tokenize_transcript(text: str) -> list[str]:
    """Lower-case words as the CMU dictionary spells them.

    Punctuation is dropped, curly apostrophes become straight ones, hyphenated and slashed
    compounds split, accents folded (``café`` → ``cafe``) so the dictionary or espeak can read
    them. Digits stay (espeak's G2P reads numbers).
    """
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).lower()
    return [w.replace("’", "'") for w in _WORD_RE.findall(folded)]


def ipa_to_arpabet(ipa_word: str) -> list[tuple[str, int]]:
    """One espeak ``--ipa --sep=_`` word → ``[(ARPAbet, stress)]``.

    espeak puts the stress mark right before the stressed vowel token, so the mark is carried to
    the next vowel produced. Unknown symbols are skipped: a missing phone costs little in
    alignment, an invented one costs more.
    """
    out: list[tuple[str, int]] = []
    pending_stress = 0
    for token in ipa_word.replace("-", "_").split("_"):
        token = token.strip()
        if not token:
            continue
        syllabic = "\u0329" in token
        token = token.replace("\u0329", "").replace("ˑ", "")
        i = 0
        while i < len(token):
            ch = token[i]
            if ch == _PRIMARY:
                pending_stress, i = 1, i + 1
                continue
            if ch == _SECONDARY:
                pending_stress, i = (1 if pending_stress == 1 else 2), i + 1
                continue
            if syllabic and ch in _SYLLABIC:
                phones: tuple[str, ...] = _SYLLABIC[ch]
                i += 1
            else:
                key = next((k for k in _IPA_KEYS_LONGEST_FIRST if token.startswith(k, i)), None)
                if key is None:
                    i += 1
                    continue
                phones = IPA_TO_ARPABET[key]
                i += len(key)
                if i < len(token) and token[i] == "ː":
                    i += 1
            for ph in phones:
                if ph in VOWELS:
                    out.append((ph, pending_stress))
                    pending_stress = 0
                else:
                    out.append((ph, 0))
    return out


def assign_stress(word: str, phones: list[str], espeak_pattern: list[int] | None) -> list[int]:
    """Stress per phone of ``phones`` (dictionary pronunciation without digits).

    ``espeak_pattern`` is the stress of each vowel in espeak's reading of the word in isolation;
    when its vowel count matches the dictionary's it is used position by position. Otherwise a
    plain rule: function words are unstressed, other words stress their first vowel that is not
    a schwa (English stresses the first full syllable far more often than not).
    """
    n_vowels = sum(ph in VOWELS for ph in phones)
    if word in FUNCTION_WORDS or n_vowels == 0:
        return [0] * len(phones)
    if espeak_pattern is not None and len(espeak_pattern) == n_vowels and any(espeak_pattern):
        it = iter(espeak_pattern)
        return [next(it) if ph in VOWELS else 0 for ph in phones]
    vowel_idx = [i for i, ph in enumerate(phones) if ph in VOWELS]
    stressed = next((i for i in vowel_idx if phones[i] != "AH"), vowel_idx[0])
    return [1 if i == stressed else 0 for i in range(len(phones))]
