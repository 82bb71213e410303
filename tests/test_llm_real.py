"""With a real LLM (opt-in: make llm-eval, or pytest -m llm with
SANAD_LLM_URL set): what it writes and Sanad keeps is verified and cited
verbatim; refusals stay refusals."""
import os

import pytest

from rag.answer import verify
from rag.config import Config
from rag.pipeline import Sanad

pytestmark = [pytest.mark.llm, pytest.mark.model]

QUESTIONS = ["كم بلغت رسوم حجز سيارة رودستر التي دفعها ألتمان؟", "في أي عام حجز ألتمان سيارة رودستر؟",
             "بكم حاول ماسك شراء OpenAI؟"]


@pytest.fixture(scope="module")
def sanad():
    if not os.environ.get("SANAD_LLM_URL"):
        pytest.skip("set SANAD_LLM_URL (make llm-eval starts a local server)")
    s = Sanad(Config.load(llm_timeout=float(os.environ.get("SANAD_LLM_TIMEOUT", 120))))
    s.warm_up()
    return s


@pytest.mark.parametrize("question", QUESTIONS)
def test_what_reaches_the_user_is_verified_and_verbatim(sanad, question):
    answers = list(sanad.stream(question))
    final = answers[-1]
    assert not final.refused
    for c in final.citations:
        assert sanad.source_text(c.source, final.generation)[c.start:c.end] == c.text
    if final.composer == "llm":
        for s in final.statements:
            cited = [final.citations[n - 1].text for n in s.citations]
            assert s.citations and all(any(verify.holds(f, p) for p in cited) for f in verify.facts(s.text))


def test_an_unanswerable_question_is_still_refused(sanad):
    assert sanad.ask("كم عدد موظفي شركة xAI؟", llm=True).refused
