"""The settings that shape answers, in one object.

How many chunks are retrieved and read, how much of a conversation counts,
and the thresholds that decide between answering and refusing were all
chosen for one embedding model and one reader. They travel together: the
reader's folder records them (``settings.json`` beside its manifest), and
loading them for another embedding model is an error, not a quietly worse
answer.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .calibration import Calibration, Trees, from_json
from ..config import EMBEDDED_MODEL
from ..errors import ReaderError


@dataclass(frozen=True)
class Thresholds:
    """The hand-set rules that decided before the reader (``decision="rules"``),
    kept for comparison. Calibrated on the tune split of eval/dev.jsonl
    (EVALUATION.md)."""

    min_coverage: float = 0.2  # in the sentence itself
    min_context_coverage: float = 0.65  # in the sentence, its neighbours and the title
    min_dense: float = 0.82
    min_dense_latin: float = 0.82  # English questions
    min_context_coverage_latin: float = 0.3  # ... and only their names can be matched
    max_sentences: int = 2
    second_margin: float = 0.08  # a second sentence must score within this of the first


@dataclass(frozen=True)
class AnswerSettings:
    embedding_model: str = EMBEDDED_MODEL  # the model these values were chosen with
    # whether the index the calibration was fitted on embedded passages after their title
    # (Config.passage_title): its cosine feature reads differently without
    passage_title: bool = False
    ranking: int = 20  # chunks ranked per question (what evaluation's recall@10 reads)
    chunks: int = 6  # ... of which the first this many give candidate sentences
    depth: int = 30  # candidates per ranking (dense, BM25) before fusion
    dense_sentences: int = 8  # sentences nearest the question anywhere, added as candidates
    history: int = 6  # earlier turns of a conversation kept
    windows: int = 4  # windows the reader reads per question at most (~60 ms each on 2 cores)
    # ... of which it reads this many first, and the rest only when those do not answer: the
    # best window answers 52 of the 66 answered dev questions, so most questions cost one window
    first_windows: int = 1
    reader_threshold: float = 0.5  # answer when the best window's probability reaches it
    second_margin: float = 0.15  # a second quoted window must be this close to the first
    min_span: float = 0.05  # below this span confidence there is no short answer
    # a window whose short answer has a form its question rules out (a sum of money asked
    # "ما لون"; rag/answer/forms.py) does not answer it
    form_check: bool = True
    rules: Thresholds = field(default_factory=Thresholds)
    # fitted by `rag calibrate`; when present it decides instead of reader_threshold
    calibration: Calibration | Trees | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d["calibration"] = self.calibration.to_json() if self.calibration else None
        return d

    @classmethod
    def from_json(cls, data: dict) -> "AnswerSettings":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("rules"), dict):
            values["rules"] = Thresholds(**{k: v for k, v in values["rules"].items()
                                            if k in {f.name for f in fields(Thresholds)}})
        if isinstance(values.get("calibration"), dict):
            values["calibration"] = from_json(values["calibration"])
        return cls(**values)

    def save(self, folder: Path) -> None:
        d = self.to_json()
        text = json.dumps({**d, "calibration": None}, ensure_ascii=False, indent=2)
        if d["calibration"] is not None:  # one line: hundreds of trees would bury the settings above them
            text = text.replace('"calibration": null', '"calibration": ' + json.dumps(d["calibration"]))
        (Path(folder) / "settings.json").write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "AnswerSettings":
        path = Path(folder) / "settings.json"
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ReaderError(f"{path} is missing; restore it or retrain with `rag train-reader`") from None
        except (ValueError, TypeError, KeyError) as e:
            raise ReaderError(f"{path} is unreadable ({e}); restore it or retrain with `rag train-reader`") from None

    def check_model(self, model: str, where: Path | str = "", passage_title: bool | None = None) -> None:
        """That these settings were chosen for this embedding model and, when
        they carry a calibration, for indexes with passage titles as
        ``passage_title`` says (None: not checked)."""
        if model != self.embedding_model:
            raise ReaderError(
                f"the answer settings in {where} were calibrated with embedding model {self.embedding_model!r}, "
                f"but the index uses {model!r}; retrain the reader for it (`rag train-reader`) "
                "or set SANAD_READER=rules")
        if self.calibration is not None and passage_title is not None and passage_title != self.passage_title:
            def state(on: bool) -> str:
                return "on" if on else "off"

            raise ReaderError(
                f"the answer settings in {where} were calibrated on an index with passage titles "
                f"{state(self.passage_title)}, but the configuration has them {state(passage_title)}; "
                f"set SANAD_PASSAGE_TITLE={int(self.passage_title)}, recalibrate (`rag calibrate`) "
                "or set SANAD_READER=rules")
