from pathlib import Path

import pytest

from rag.config import EMBEDDED_MODEL, Config
from rag.errors import ConfigError


def test_defaults():
    c = Config.load(env={})
    assert c.model == EMBEDDED_MODEL and c.sources_dir == Path("sources") and c.index_dir == Path("index")


def test_environment_then_arguments_override():
    env = {"SANAD_INDEX": "/tmp/a", "SANAD_CHUNK_SIZE": "500", "SANAD_MODEL": "some/model"}
    c = Config.load(env=env, index_dir="/tmp/b", model=None)
    assert c.index_dir == Path("/tmp/b")      # flag beats environment
    assert c.model == "some/model"            # None means "not given"
    assert c.chunking.size == 500


@pytest.mark.parametrize("env", [{"SANAD_CHUNK_SIZE": "big"}, {"SANAD_CHUNK_SIZE": "10"},
                                 {"SANAD_CHUNK_OVERLAP": "900"}, {"SANAD_BATCH_SIZE": "0"}])
def test_bad_values_are_config_errors(env):
    with pytest.raises(ConfigError):
        Config.load(env=env)
