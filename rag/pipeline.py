"""The library facade: what the app and the CLI use.

    sanad = Sanad(Config.load())
    sanad.ensure_index()                       # build it if missing or stale
    answer = sanad.ask("كم بلغت رسوم الحجز؟")
    answer = sanad.ask("ومتى حدث ذلك؟", history=["كم بلغت رسوم الحجز؟"])
    answer = sanad.ask("ما قصة الخلاف بين ماسك وألتمان؟", llm=True)  # needs SANAD_LLM_URL
    for partial in sanad.stream("…", llm=True): ...  # verified sentences as the LLM writes them
    trace = sanad.run("كم بلغت رسوم الحجز؟")  # every stage's output, for evaluation and the page

``ask`` runs named stages: question (analysis) -> retrieval (hybrid chunk
ranking) -> evidence (candidate sentences) -> decision (the reader, or the
rules) -> composer (the answer's text and citations: quoted by default, or
written by an LLM and verified sentence by sentence, rag/answer/generative.py).

Live updates: the index a question is answered from is one immutable
``Snapshot`` (generation, index, sentence table), taken once per question.
``refresh`` (or ``watch``, which calls it every few seconds in a background
thread) loads a generation that ``rag index`` has swapped in and replaces
the snapshot in one assignment; a damaged generation is logged and skipped,
and the old one keeps serving. An answer names its generation, so the page
shows its citations in the text they were cut from.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Mapping, Sequence

from .answer import decision as d
from .index import build as bx
from .index import index as ix
from . import threads
from .answer.compose import Answer, Citation, Composer, ExtractiveComposer, surrounding
from .config import Config
from .answer.decision import Decider, Decision, ReaderDecider, RuleDecider
from .index.embedding import SentenceTransformerEmbedder
from .errors import IndexCorrupt, IndexMissing, IndexStale, SanadError
from .answer.evidence import Evidence, SentenceTable, gather, nearest_sentences
from .answer.generative import LLMComposer, windows
from .answer.llm import ChatClient
from .answer.question import Question, analyze, clean, standard
from .answer.reader import Reader, Reading
from .answer.transliteration import join_spelled, latin_names, spelling_index
from .answer.crosslingual import ALIGNED_SENTENCES, Aligner, WordVectors, gloss, is_english, vocabulary
from .index.retrieval import Hit, search
from .answer.settings import AnswerSettings
from .ingest.sources import Source, source_date

INHERITED_WEIGHT = 0.5  # a follow-up's own words count double those it inherits
MAX_QUESTION_CHARS = 1000  # longer input is cut here (Answer.truncated says so); the model sees 512 tokens anyway


@dataclass(frozen=True)
class Trace:
    """What each stage of one ``ask`` produced."""

    question: Question | None  # None when the question was empty
    query: str  # what was retrieved with (a follow-up adds the question it follows)
    hits: tuple[Hit, ...]  # ranked chunks (settings.ranking of them)
    evidence: tuple[Evidence, ...]  # candidate sentences
    decision: Decision
    answer: Answer
    timings_ms: Mapping[str, float] = field(default_factory=dict)


def make_decider(config: Config) -> Decider:
    """The decider the configuration names: the trained reader (default, or
    a folder), or the earlier rules (``SANAD_READER=rules``). Checks the
    reader's files and that its settings were calibrated for this
    embedding model (ReaderError otherwise); loads no weights."""
    from .answer.reader import DEFAULT_DIR, Reader

    if config.reader == "rules":
        return RuleDecider()
    folder = DEFAULT_DIR if config.reader == "default" else Path(config.reader)
    reader = Reader(folder, config.cache_dir)
    reader.check()
    settings = AnswerSettings.load(folder)
    settings.check_model(config.model, folder, config.passage_title)
    return ReaderDecider(reader, settings)


log = logging.getLogger("sanad.pipeline")
RECENT_GENERATIONS = 4  # generations whose sources stay resolvable for answers given from them


@dataclass(frozen=True)
class Snapshot:
    """What one question is answered from, start to end."""

    generation: str  # the generation folder's name
    index: ix.Index
    table: SentenceTable


class Sanad:
    def __init__(self, config: Config | None = None, embedder=None, composer: Composer | None = None,
                 decider: Decider | None = None):
        self.config = config or Config.load()
        self.embedder = embedder or SentenceTransformerEmbedder.from_config(self.config)
        self.composer = composer or ExtractiveComposer()
        self._decider = decider
        self._snap: Snapshot | None = None
        self._recent: dict[str, Mapping[str, Source]] = {}  # generation -> its sources
        self._skipped: set[str] = set()  # damaged generations not to try again
        self._lock = threading.Lock()
        self._chat: ChatClient | None = None  # the LLM endpoint's client, made on first use
        self._verifier: Reader | None = None  # verifies generated sentences when the rules decide
        self._words = WordVectors(self.embedder.embed_passages)  # English questions' glosses (crosslingual.py)
        vectors = getattr(self.embedder, "word_vectors", None)  # a test's fake embedder may not read words in context
        self._aligner = Aligner(vectors) if vectors is not None else None
        self._read_ahead = False  # whether English questions' words are read ahead (warm_english)

    @classmethod
    def over(cls, index: ix.Index, config: Config | None = None, embedder=None,
             composer: Composer | None = None, decider: Decider | None = None) -> "Sanad":
        """A Sanad answering from an already loaded ``index`` (for example one
        with some sources left out: Index.without)."""
        sanad = cls(config, embedder, composer, decider)
        sanad._install(index)
        return sanad

    def _install(self, index: ix.Index) -> Snapshot:
        snap = Snapshot(Path(index.path).name, index, SentenceTable(index))
        self._recent[snap.generation] = index.sources
        while len(self._recent) > RECENT_GENERATIONS:
            self._recent.pop(next(iter(self._recent)))
        self._snap = snap  # the swap: one assignment
        return snap

    @property
    def decider(self) -> Decider:
        if self._decider is None:
            self._decider = make_decider(self.config)
        return self._decider

    @property
    def settings(self) -> AnswerSettings:
        return getattr(self.decider, "settings", None) or AnswerSettings()

    @property
    def snapshot(self) -> Snapshot:
        snap = self._snap
        if snap is not None:
            return snap
        with self._lock:
            if self._snap is None:
                self._install(ix.load(self.config))
            assert self._snap is not None
            return self._snap

    @property
    def index(self) -> ix.Index:
        return self.snapshot.index

    @property
    def table(self) -> SentenceTable:
        return self.snapshot.table

    def refresh(self) -> bool:
        """Load the generation ``rag index`` made live, if it is not the one
        being served; True when answers now come from a new one. A generation
        that cannot be loaded is logged and skipped: the current one keeps
        serving."""
        try:
            live = ix.current_generation(self.config.index_dir).name
        except SanadError:
            return False
        snap = self._snap
        if snap is not None and (live == snap.generation or live in self._skipped):
            return False
        with self._lock:
            if self._snap is not None and self._snap.generation == live:
                return False
            try:
                # the generation is whole by itself; the sources folder may already have moved on
                index = ix.load(self.config, check_sources=False)
            except (SanadError, OSError, ValueError) as e:
                if ix.current_generation(self.config.index_dir).name == live:
                    self._skipped.add(live)  # it stays broken: do not try it every few seconds
                log.warning("not switching to index generation %s: %s", live, e)
                return False
            old = self._snap.generation if self._snap else None
            self._install(index)
        log.info("answering from index generation %s (was %s): %d sources, %d chunks",
                 Path(index.path).name, old, len(index.sources), len(index.chunks))
        return True

    def watch(self, interval: float = 2.0) -> threading.Event:
        """Call ``refresh`` every ``interval`` seconds in a daemon thread;
        set the returned event to stop it."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                try:
                    if self.refresh() and self._read_ahead:
                        self.warm_english()  # the new generation's sentences, here in the watcher's thread
                except Exception:  # noqa: BLE001 - the watcher must outlive any one failure
                    log.exception("checking for a new index generation failed")

        threading.Thread(target=loop, name="sanad-index-watch", daemon=True).start()
        return stop

    def ensure_index(self, progress=None) -> bx.BuildReport | None:
        """Load the index; build it first if it is missing, stale or damaged.
        Returns the build report when a build happened."""
        try:
            _ = self.index
            return None
        except (IndexMissing, IndexStale, IndexCorrupt):
            report = bx.build(self.config, self.embedder, progress=progress)
            try:
                index = ix.load(self.config)
            except IndexCorrupt:  # damage the build's cheap checks did not see: write every row anew
                report = bx.build(self.config, self.embedder, progress=progress, full=True)
                index = ix.load(self.config)
            with self._lock:
                self._install(index)
            return report

    def warm_up(self) -> None:
        """Load the index, the models and run one question, so that the first
        real question is answered at full speed."""
        self.ask("ما هو الخبر؟")

    def warm_english(self, wait: bool = True) -> threading.Thread | None:
        """Read ahead what English questions read (crosslingual.py): every
        quotable sentence's words in context and every article word's vector,
        which the first English questions would otherwise pay for (up to 0.5 s
        each on the 2-core machine; EVALUATION.md "English questions read
        ahead"). Only when all of them fit in the memories that keep them (our
        five articles: 96 sentences and 1,132 words, about 6 s of work);
        past that the memories fill question by question as before; again
        after ``watch`` installs a new index generation. Work
        waits while a question is being answered, and goes in batches of
        20 to 40 ms, so it delays a question by at most one; ``wait=False``
        does it in a daemon thread, which it returns."""
        self._read_ahead = True
        if wait:
            self._warm_english()
            return None
        thread = threading.Thread(target=self._warm_english, name="sanad-english-warm", daemon=True)
        thread.start()
        return thread

    def _warm_english(self) -> None:
        aligner = self._aligner
        if aligner is None or not isinstance(self.decider, ReaderDecider):
            return  # English questions are not reworded (a fake embedder, or the rules decide)
        try:
            snap = self.snapshot
            index, table = snap.index, snap.table
            sentences = list(dict.fromkeys(s.text for i, s in enumerate(index.sentences) if table.quotable[i]))
            words = vocabulary((c.text for c in index.chunks), limit=self._words.limit + 1)
            if len(sentences) > aligner.limit or len(words) > self._words.limit:
                log.info("English questions not read ahead: %d sentences, %d words", len(sentences), len(words))
                return
            t0 = time.perf_counter()
            # batch sizes: two sentences or eight words take 20-40 ms on the 2-core machine
            for todo, read, batch in ((sentences, aligner.remember, 2), (words, self._words, 8)):
                for b in range(0, len(todo), batch):
                    while threads.busy():
                        time.sleep(0.02)
                    read(todo[b:b + batch])
            log.info("English questions read ahead: %d sentences, %d words in %.1f s",
                     len(sentences), len(words), time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - ahead-of-time work: a question would only pay for it itself
            log.exception("reading ahead for English questions failed")

    def context(self, citation: Citation, width: int = 240) -> tuple[str, str, str]:
        """(before, cited, after) text around a citation, from its source."""
        return surrounding(self.source_text(citation.source), citation.start, citation.end, width)

    def source_text(self, source_id: str, generation: str = "") -> str:
        """The stored text of a source: what every offset refers to."""
        return self.source(source_id, generation).text

    def source(self, source_id: str, generation: str = "") -> Source:
        """A source as the generation ``generation`` holds it (an answer's
        own: Answer.generation), or as the live one does."""
        sources = self._recent.get(generation) if generation else None
        return (sources if sources is not None else self.index.sources)[source_id]

    def catalogue(self) -> list[tuple[Source, int]]:
        """Every indexed article with its number of chunks, newest first
        (articles without a date last), then by title: what Sanad can
        answer from."""
        index = self.index
        recorded = index.manifest.get("sources", {})  # the build counted them: no pass over every chunk
        counts = {sid: int(recorded.get(sid, {}).get("chunks", 0)) for sid in index.sources}
        by_title = sorted(index.sources.values(), key=lambda s: s.title)
        dated = sorted((s for s in by_title if source_date(s)), key=source_date, reverse=True)
        return [(s, counts.get(s.id, 0)) for s in dated + [s for s in by_title if not source_date(s)]]

    def ask(self, question: str, history: Sequence[str] = (), llm: bool = False) -> Answer:
        """Answer from the sources, or refuse. ``history`` holds the earlier
        questions of the conversation, oldest first; a follow-up ("ومتى حدث
        ذلك؟") is retrieved together with the question it follows. ``llm``:
        let the configured LLM write the answer (LLMError when none is)."""
        trace = self.run(question, history)
        if not llm:
            return trace.answer
        answer = trace.answer
        for answer in self._generate(trace, streamed=False):
            pass
        return answer

    def stream(self, question: str, history: Sequence[str] = (), llm: bool = True) -> Iterator[Answer]:
        """``ask``, as answers that grow while the LLM writes: each adds a
        verified sentence; the last is the final answer. Without ``llm``, one
        answer."""
        trace = self.run(question, history)
        if not llm:
            yield trace.answer
            return
        yield from self._generate(trace, streamed=True)

    @property
    def llm_enabled(self) -> bool:
        """Whether an LLM endpoint is configured (SANAD_LLM_URL)."""
        return bool(self.config.llm_url)

    def _generate(self, trace: Trace, streamed: bool) -> Iterator[Answer]:
        chat = self._chat = self._chat or ChatClient.from_config(self.config)  # LLMError when none is configured
        base = trace.answer
        if base.refused or trace.question is None:
            yield base
            return
        composer = LLMComposer(chat, self._read, names=frozenset(self.table.aliases.values()),
                               max_passages=self.config.llm_passages)
        t0 = time.perf_counter()
        more = windows(self.table, trace.evidence, self.config.llm_passages)  # neighbours the reader did not need
        parts = composer.stream(trace.question, trace.decision, more) if streamed else \
            iter([composer.compose(trace.question, trace.decision, more)])
        for answer in parts:
            spent = (time.perf_counter() - t0) * 1000
            timings = {**base.timings_ms, "llm": spent, "total": base.timings_ms.get("total", 0.0) + spent}
            # as typed: an English question was read glossed (rag/answer/crosslingual.py)
            yield replace(answer, question=base.question, generation=base.generation, truncated=base.truncated,
                          timings_ms=timings)

    def _read(self, text: str, passages: Sequence[str]) -> list[Reading]:
        """The reader's reading of each passage for ``text`` (the question, or
        the question and a generated statement: rag/answer/verify.py)."""
        reader = getattr(self.decider, "reader", None)
        if reader is None:  # the rules decide: verification still needs the reader
            if self._verifier is None:
                verifier = Reader(cache_dir=self.config.cache_dir)
                verifier.check()
                self._verifier = verifier
            reader = self._verifier
        with threads.answering():
            return reader.read(text, list(passages))

    def run(self, question: str, history: Sequence[str] = ()) -> Trace:
        """``ask``, returning what every stage produced."""
        t0 = time.perf_counter()
        text, truncated = _bounded(question or "")
        trace = self._run(text, history, t0)
        answer = replace(trace.answer, timings_ms=trace.timings_ms)
        return replace(trace, answer=replace(answer, truncated=True) if truncated else answer)

    def _query(self, q: Question, history: list[str]) -> tuple[str, dict[str, float]]:
        """The text to retrieve with and the weighted terms to look for."""
        query, terms = q.text, dict.fromkeys(q.content, 1.0)
        if q.follow_up and history:
            # Retrieve with the question it follows; what it asks is its own.
            query = f"{history[-1]} {q.text}"
            for t in analyze(str(history[-1])).content:
                terms.setdefault(t, INHERITED_WEIGHT)
        return query, terms

    def _stop(self, q: Question | None, text: str, reason: str, t0: float) -> Trace:
        decision = d.refuse(reason, decider=getattr(self._decider, "name", ""))
        question = q or analyze(text)
        answer = replace(self.composer.compose(question, decision), question=text)  # as typed, not as joined
        return Trace(q, text, (), (), decision, answer, {"total": _ms(t0)})

    def _run(self, question: str, history: Sequence[str], t0: float) -> Trace:
        if not question:
            return self._stop(None, "", d.EMPTY, t0)
        q = analyze(standard(question))  # dialect question words as MSA writes them, for the reader
        if q.request:
            return self._stop(q, question, d.NOT_A_QUESTION, t0)
        snap = self.snapshot  # index problems first: they are the maintainer's to fix
        with threads.answering():  # torch gets the cores (rag/threads.py)
            return self._answer(snap, q, question, history, t0)

    def _answer(self, snap: Snapshot, q: Question, question: str, history: Sequence[str], t0: float) -> Trace:
        index, table = snap.index, snap.table
        settings = self.settings
        # earlier turns are read as the question is: dialect question words as MSA writes them
        turns = [standard(_bounded(str(h))[0]) for h in history][-settings.history:] if settings.history else []

        def retrieve(q: Question):
            """(query, terms, query vector, hits), or None when there is nothing to look for."""
            query, terms = self._query(q, turns)
            if q.latin:  # English words cannot be found in Arabic text; names can
                terms = {table.aliases.get(t, t): w for t, w in terms.items()}
                terms = {t: w for t, w in terms.items() if t in table.vocabulary}
            if not terms and not (q.latin and isinstance(self.decider, ReaderDecider)):
                # nothing to look for: "ومتى حدث ذلك؟" with no earlier turn. (The
                # reader reads English questions whose words the articles lack.)
                return None
            e0 = time.perf_counter()
            vector = self.embedder.embed_query(query)
            embed_ms.append((time.perf_counter() - e0) * 1000)
            # BM25 also looks for a name the question writes in Arabic and the articles in Latin
            spelled = " ".join([query, *table.latin_spellings(terms)])
            return query, terms, vector, search(index, spelled, vector, k=settings.ranking, depth=settings.depth)

        embed_ms: list[float] = []
        t1 = time.perf_counter()
        found = retrieve(q)
        if found is not None:
            # A name spelled out in several words ("اوبن اي اي") is joined into the Latin name the
            # retrieved chunks write (OpenAI), and the question is retrieved again as written, so every
            # stage reads the name as the articles do. Rare (5 of 12,452 AAQAD train questions), and
            # only the retrieved chunks are looked at, not every article.
            # A follow-up is retrieved with the turn before it, so that turn is joined too.
            names = spelling_index(n for h in found[3] for n in latin_names(h.chunk.text))
            joined = join_spelled(q.text, names)
            before = join_spelled(turns[-1], names) if turns and q.follow_up else None
            if joined != q.text or (before is not None and before != turns[-1]):
                if before is not None:
                    turns[-1] = before
                q = analyze(joined) if joined != q.text else q
                found = retrieve(q) or found
        if found is not None and q.latin and is_english(q.text) and isinstance(self.decider, ReaderDecider):
            # An English question is reworded with the retrieved chunks' own Arabic words, each word
            # first aligned in context with the sentences nearest the question, and retrieved again,
            # so every stage reads it as Arabic (EVALUATION.md "English questions glossed", "... aligned").
            e0 = time.perf_counter()
            top = found[3][: settings.chunks]
            aligned = {} if self._aligner is None else self._aligner(q.text, nearest_sentences(
                table, found[2], [h.position for h in top], ALIGNED_SENTENCES, settings.dense_sentences))
            glossed = gloss(q.text, [h.chunk.text for h in top], self._words, aligned=aligned)
            embed_ms.append((time.perf_counter() - e0) * 1000)
            arabic = replace(analyze(glossed), typed=question)
            again = retrieve(arabic) if glossed != q.text else None
            if again is not None:
                q, found = arabic, again
        if found is None:
            return self._stop(q, question, d.UNCLEAR, t0)
        query, terms, vector, hits = found
        if q.follow_up and turns:
            q = replace(q, context=turns[-1])  # a short answer must add to what the conversation named
        evidence = gather(table, q, terms, vector, [h.position for h in hits[: settings.chunks]],
                          k_dense=settings.dense_sentences)
        t3 = time.perf_counter()
        decision = self.decider.decide(q, evidence, table)
        t4 = time.perf_counter()
        answer = self.composer.compose(q, decision)
        t5 = time.perf_counter()
        timings = {"embed": sum(embed_ms), "retrieve": (t3 - t1) * 1000 - sum(embed_ms), "read": (t4 - t3) * 1000,
                   "compose": (t5 - t4) * 1000, "total": (t5 - t0) * 1000}
        answer = replace(answer, question=question, generation=snap.generation)
        return Trace(q, query, tuple(hits), tuple(evidence), decision, answer, timings)


def _bounded(text: str) -> tuple[str, bool]:
    """(cleaned text cut to MAX_QUESTION_CHARS, whether it was cut). At most
    8x the limit is even looked at, so work is bounded however long the input."""
    cleaned = clean(text[: 8 * MAX_QUESTION_CHARS])
    return cleaned[:MAX_QUESTION_CHARS], len(cleaned) > MAX_QUESTION_CHARS or len(text) > 8 * MAX_QUESTION_CHARS


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
