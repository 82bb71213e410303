"""English questions glossed with the passages' Arabic words (rag/answer/crosslingual.py).
A fake embedding that knows a few translations; the real model's glosses are
tested in test_dev_set.py through the English rows."""
import zlib

import numpy as np
import pytest

from rag.answer.crosslingual import (ARABIC_WORD, MIN_COSINE, Aligner, WordVectors, align, gloss, is_english, opening,
                                     vocabulary, word_spans)

PASSAGE = ("كشفت شبكة CNBC أن الملياردير إيلون ماسك حاول عرقلة مشروع ستارجيت، ورفعت لماسك "
           "دعوى قضائية. وبلغت رسوم الحجز 50 ألف دولار.")
# each group shares one direction; cosine 1 within a group, 0 across
GROUPS = [("revealed", "كشفت"), ("project", "مشروع"), ("lawsuit", "دعوى"), ("Musk", "ماسك", "لماسك"),
          ("fee", "رسوم"), ("tried", "حاول")]


def fake_embed(texts):
    """One-hot vectors: a group's words share a dimension; any other word has its
    own (by a stable hash), so it scores 0 against everything else."""
    out = np.zeros((len(texts), len(GROUPS) + 4096), np.float32)
    for row, t in enumerate(texts):
        col = next((i for i, g in enumerate(GROUPS) if t in g), None)
        out[row, col if col is not None else len(GROUPS) + zlib.crc32(t.encode()) % 4096] = 1.0
    return out


def words_of(glossed):
    return glossed.rstrip("؟").split()


def test_an_english_question_gets_the_passages_words_and_keeps_their_latin_names():
    g = gloss("Which network revealed that Musk tried to block the project?", [PASSAGE], fake_embed)
    assert g.startswith("أي ")
    assert g.endswith("؟")
    for word in ("كشفت", "حاول", "مشروع", "ماسك"):
        assert word in words_of(g), g
    assert "لماسك" not in g  # the bare form, of two that score alike
    assert "that" not in words_of(g) and "the" not in words_of(g)  # function words go


def test_a_name_the_passage_writes_in_latin_stays_as_typed():
    g = gloss("Which network is CNBC?", [PASSAGE], fake_embed)
    assert "CNBC" in words_of(g)


def test_a_word_with_no_close_arabic_word_stays_english():
    g = gloss("How much was the reservation fee?", [PASSAGE], fake_embed)
    assert words_of(g)[0] == "كم"
    assert "رسوم" in g and "reservation" in g


@pytest.mark.parametrize("question", ["متى غادر ماسك OpenAI؟", "", "؟؟", "2018",
                                      "SELECT * FROM users; DROP TABLE x;--", "Musk, Altman, OpenAI"])
def test_a_question_not_english_or_with_no_question_word_is_returned_as_it_is(question):
    assert gloss(question, [PASSAGE], fake_embed) == question


def test_question_words_longest_first():
    assert opening("how much did it cost".split()) == ("كم", 2)
    assert opening("How many employees does xAI have".split()) == ("كم عدد", 2)  # a count, not a sum of money
    assert opening("how many billion dollars did it raise".split()) == ("كم", 2)  # unless it counts money
    assert opening("How old is Sam Altman".split()) == ("كم عمر", 2)
    assert opening("how did he say".split()) == ("كيف", 1)
    assert opening("In which year did".split()) == ("في أي عام", 3)
    assert opening("Did Musk leave".split()) == ("هل", 1)
    assert opening("Musk left".split()) == ("", 0)


def test_is_english():
    assert is_english("When did Musk leave OpenAI?")
    assert not is_english("متى غادر ماسك OpenAI؟")
    assert not is_english("2018?")


def test_vocabulary_drops_tashkeel_short_words_and_stopwords_and_keeps_order():
    words = vocabulary(["كَشَفَتْ في من الملياردير كشفت ماسك"])
    assert words == ["كشفت", "الملياردير", "ماسك"]
    assert len(vocabulary([" ".join("كلمة" + "ب" * i for i in range(50))], limit=10)) == 10


def test_word_vectors_embed_each_word_once():
    calls = []

    def embed(texts):
        calls.append(list(texts))
        return fake_embed(texts)

    words = WordVectors(embed)
    first = words(["ماسك", "fee", "ماسك"])
    second = words(["fee", "كشفت"])
    assert calls == [["ماسك", "fee"], ["كشفت"]]
    assert np.allclose(first[1], second[0]) and first.shape[0] == 3


def test_word_vectors_forget_everything_past_their_limit_and_still_answer():
    words = WordVectors(fake_embed, limit=3)
    words(["a", "b", "c"])
    out = words(["c", "d"])
    assert out.shape[0] == 2


def test_min_cosine_is_above_what_unrelated_words_score():
    # a word's nearest unrelated word reached 0.877 with e5 on one of our articles (EVALUATION.md)
    assert MIN_COSINE > 0.877


def test_a_question_word_after_a_leading_clause_still_opens_the_gloss():
    g = gloss("According to Musk, how much was the fee?", [PASSAGE], fake_embed)
    assert words_of(g)[0] == "كم" and "رسوم" in words_of(g) and "ماسك" in words_of(g)
    # a comma that opens no question clause changes nothing
    assert words_of(gloss("Who, after the lawsuit, tried?", [PASSAGE], fake_embed))[0] == "من"


def test_the_pipeline_reads_an_english_question_glossed_and_answers_it_as_typed(fake_sanad):
    from conftest import fake_reader_decider
    from rag.pipeline import Sanad

    sanad = Sanad(fake_sanad.config, embedder=fake_sanad.embedder,
                  decider=fake_reader_decider(fake_sanad.config.model))
    typed = "Which network revealed that Musk tried to block the Stargate project?"
    trace = sanad.run(typed)
    assert trace.question is not None and not trace.question.latin
    assert words_of(trace.question.text)[0] == "أي"
    assert "Stargate" in words_of(trace.question.text)  # a name kept as the articles write it
    assert trace.answer.question == typed and trace.question.typed == typed
    # an Arabic question is read as it is, and the rules never gloss
    assert sanad.run("من كشف محاولة ماسك؟").question.text == "من كشف محاولة ماسك؟"
    assert fake_sanad.run(typed).question.text == typed


def test_word_vectors_from_many_threads_past_their_limit_give_each_word_its_own_vector():
    from concurrent.futures import ThreadPoolExecutor

    import time

    def slow(texts):  # lets the other threads run mid-call, as the real model does
        time.sleep(0.001)
        return fake_embed(texts)

    words = WordVectors(slow, limit=8)
    vocab = [f"w{i}" for i in range(40)]

    def ask(i):
        batch = [vocab[(i * 7 + k) % 40] for k in range(5)]
        return batch, words(batch)

    with ThreadPoolExecutor(8) as pool:
        for batch, vectors in pool.map(ask, range(400)):
            assert np.array_equal(vectors, fake_embed(batch))


# ------------------------------------------------------------ words aligned in context

def unit(*rows):
    m = np.array(rows, np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_word_spans_are_the_words_at_their_offsets_without_a_possessive():
    text = "What is Tesla's humanoid robot, in 2026? وكَشَفَتْ xAI"
    words, spans = word_spans(text)
    assert words == ["What", "is", "Tesla", "humanoid", "robot", "in", "2026", "وكَشَفَتْ", "xAI"]
    assert all(text[a:b] == w for w, (a, b) in zip(words, spans))


def test_align_takes_mutual_nearest_words_of_the_best_passage_only():
    question = ["How", "much", "money", "did", "Nvidia", "pump"]
    q = unit([1, 0, 0, 0, 0.1], [1, 0.1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0.8, 0, 0.6], [0, 0, 0, 1, 0],
             [0, 0, 0.9, 0.1, 0.5])
    good = (["بضخ", "دولار", "Nvidia", "ملياري"], unit([0, 0, 0.8, 0, 0.6], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0],
                                                       [1, 0.05, 0, 0, 0]))
    other = (["مبلغ", "شركة"], unit([0, 0.7, 0, 0, 0.7], [0, 0, 0, 0.3, 1]))
    out = align(question, q, [other, good])
    assert out["money"] == "دولار"  # content word, mutual nearest
    assert "nvidia" not in out  # a Latin word of the passage is no gloss
    # "pump" is nearest بضخ, but بضخ is nearer "did": a function word holds its own nearest
    assert "pump" not in out
    assert "مبلغ" not in out.values()  # the passage that aligns worse gives nothing


def test_align_needs_the_floor_and_strips_tashkeel():
    q = unit([1, 0, 0])
    passage = (["كَشَفَتْ"], unit([1, 1, 0]))  # cosine 0.707
    assert align(["revealed"], q, [passage], floor=0.7) == {"revealed": "كشفت"}
    assert align(["revealed"], q, [passage], floor=0.8) == {}
    assert align(["revealed"], q, []) == {} and align(["the"], q, [passage]) == {}


def test_an_aligned_word_comes_before_the_word_by_word_gloss_but_not_before_names_and_numbers():
    aligned = {"tried": "محاولة", "fee": "مبلغ", "cnbc": "شبكة", "2018": "عام"}
    g = words_of(gloss("Which network CNBC tried the fee in 2018?", [PASSAGE], fake_embed, aligned=aligned))
    assert "محاولة" in g and "حاول" not in g and "مبلغ" in g
    assert "CNBC" in g and "2018" in g  # a name the passage writes in Latin, and a number, stay


def test_the_aligner_reads_each_passage_once_and_the_question_each_time():
    calls = []

    def vectors(texts, spans, role):
        calls.append((role, len(texts)))
        out = []
        for text, sp in zip(texts, spans):
            words = [text[a:b] for a, b in sp]
            out.append(unit(*[[1.0, 0.0] if w in ("revealed", "كشفت") else [0.0, 1.0] if w in ("project", "مشروع")
                              else [0.3, 0.3] for w in words]))
        return out

    aligner = Aligner(vectors, limit=3)
    assert aligner("Which network revealed the project?", [PASSAGE]) == {"revealed": "كشفت", "project": "مشروع"}
    aligner("What was revealed?", [PASSAGE])
    assert calls == [("document", 1), ("query", 1), ("query", 1)]
    assert aligner("متى كشفت؟", [PASSAGE]) == {} and aligner("Who?", []) == {}
    aligner("Who revealed it?", ["أ كشفت", "ب كشفت", "ج كشفت"])  # past the limit: a new memory
    assert calls[-2:] == [("document", 3), ("query", 1)]


def aligning_sanad(fake_sanad, read: list, embedded: list | None = None, config=None):
    """A Sanad whose fake embedder also reads words in context: every word its own
    direction, "revealed" and كشفت one shared (the only pair). It records the
    passages read in context (``read``) and the texts embedded (``embedded``)."""
    from conftest import fake_reader_decider
    from rag.pipeline import Sanad

    class Aligning(type(fake_sanad.embedder)):
        def word_vectors(self, texts, spans, role):
            if role == "document":
                read.append(list(texts))
            out = []
            for text, sp in zip(texts, spans):
                words = [text[a:b] for a, b in sp]
                rows = np.zeros((len(words), 4097), np.float32)
                for k, w in enumerate(words):
                    rows[k, 0 if w in ("revealed", "كشفت") else 1 + zlib.crc32(w.encode()) % 4096] = 1.0
                out.append(rows)
            return out

        def embed_passages(self, texts):
            if embedded is not None:
                embedded.extend(texts)
            return super().embed_passages(texts)

    embedder = Aligning.__new__(Aligning)
    embedder.__dict__.update(fake_sanad.embedder.__dict__)
    config = config or fake_sanad.config
    return Sanad(config, embedder=embedder, decider=fake_reader_decider(config.model))


def test_the_pipeline_aligns_an_english_question_with_the_sentences_nearest_it(fake_sanad):
    """The aligner reads at most ALIGNED_SENTENCES of the sentences evidence would
    weigh, each a quotable sentence of the index, and its pairs reach the gloss."""
    from rag.answer.crosslingual import ALIGNED_SENTENCES

    read: list[list[str]] = []
    sanad = aligning_sanad(fake_sanad, read)
    trace = sanad.run("Which network revealed that Musk tried to block the Stargate project?")
    sentences = {s.text for s in sanad.index.sentences}
    assert read and all(1 <= len(batch) <= ALIGNED_SENTENCES and set(batch) <= sentences for batch in read)
    assert any("كشفت" in t.split() for batch in read for t in batch)  # the sentence that says it was read
    assert "كشفت" in words_of(trace.question.text)


QUESTION = "Which network revealed that Musk tried to block the Stargate project?"


def test_read_ahead_english_questions_read_no_article_text_and_answer_as_before(fake_sanad):
    """After ``warm_english`` every quotable sentence has been read once, and an
    English question reads no sentence and embeds none of the articles' words:
    only its own English words. Its answer is the one a cold Sanad gives."""
    read: list[list[str]] = []
    embedded: list[str] = []
    cold = aligning_sanad(fake_sanad, [], [])
    sanad = aligning_sanad(fake_sanad, read, embedded)
    sanad.warm_english()
    quotable = [s.text for i, s in enumerate(sanad.index.sentences) if sanad.snapshot.table.quotable[i]]
    assert sorted(t for batch in read for t in batch) == sorted(set(quotable))
    assert any(ARABIC_WORD.search(t) for t in embedded)  # the articles' words were embedded ahead
    read.clear(), embedded.clear()
    trace = sanad.run(QUESTION)
    assert read == [] and embedded and not any(ARABIC_WORD.search(t) for t in embedded)
    before = cold.run(QUESTION)
    assert (trace.answer.answer, trace.question.text) == (before.answer.answer, before.question.text)


def test_reading_ahead_waits_while_a_question_is_answered(fake_sanad):
    from rag import threads

    read: list[list[str]] = []
    sanad = aligning_sanad(fake_sanad, read)
    _ = sanad.decider, sanad.snapshot  # loaded first, as warm_up does: only the reading ahead is timed
    with threads.answering():
        thread = sanad.warm_english(wait=False)
        assert thread is not None
        thread.join(0.3)
        assert read == [] and thread.is_alive()
    thread.join(60)
    assert not thread.is_alive() and read


def test_nothing_is_read_ahead_past_the_memories_limits(fake_sanad):
    from rag.answer.crosslingual import Aligner

    read: list[list[str]] = []
    sanad = aligning_sanad(fake_sanad, read)
    sanad._aligner = Aligner(sanad.embedder.word_vectors, limit=10)  # fewer than the articles' sentences
    sanad.warm_english()
    assert read == []
    sanad.run(QUESTION)
    assert read  # the question still reads its own


def test_a_generation_the_watcher_installs_is_read_ahead_too(fake_sanad, config, corpus):
    import time

    from rag.index import build as bx

    bx.build(config, fake_sanad.embedder)
    read: list[list[str]] = []
    sanad = aligning_sanad(fake_sanad, read, config=config)
    sanad.warm_english()
    (corpus / "falcon.md").write_text("---\ntitle: فالكون للطيران\n---\n"
                                      "أعلنت شركة فالكون للطيران أن رحلتها الأولى إلى جزيرة سقطرى ستنطلق في مارس.\n",
                                      encoding="utf-8")
    stop = sanad.watch(interval=0.1)
    try:
        bx.build(config, fake_sanad.embedder)
        deadline = time.time() + 30
        while not any("سقطرى" in t for batch in read for t in batch) and time.time() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
    assert any("سقطرى" in t for batch in read for t in batch)
