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


def test_server_settings():
    c = Config.load(env={})
    assert (c.host, c.port, c.auth, c.share) == ("127.0.0.1", 7860, None, False)  # loopback, no link
    c = Config.load(env={"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8000"})
    assert (c.host, c.port) == ("0.0.0.0", 8000)
    c = Config.load(env={"GRADIO_SERVER_PORT": "8000", "SANAD_PORT": "9000", "SANAD_AUTH": "ali:سر",
                         "SANAD_SHARE": "1"})
    assert c.port == 9000 and c.auth == "ali:سر" and c.share is True
    assert c.passage_title is True  # the default
    assert Config.load(env={"SANAD_PASSAGE_TITLE": "0"}).passage_title is False
    for env in ({"SANAD_PORT": "70000"}, {"SANAD_AUTH": "nocolon"}):
        with pytest.raises(ConfigError):
            Config.load(env=env)


def test_ray_settings():
    c = Config.load(env={"SANAD_RAY_ADDRESS": "auto", "SANAD_RAY_ACTORS": "3"})
    assert c.ray_address == "auto" and c.ray_actors == 3
    assert Config().ray_address is None and Config().ray_actors == 0
    with pytest.raises(ConfigError):
        Config.load(env={"SANAD_RAY_ACTORS": "-1"})


def test_ray_flag():
    from rag.cli import _config, build_parser

    def address(argv, env=None):
        import os
        from unittest import mock

        with mock.patch.dict(os.environ, env or {}, clear=False):
            return _config(build_parser().parse_args(["index", *argv])).ray_address

    assert address([]) is None
    assert address(["--ray"]) == "local"
    assert address(["--ray"], {"SANAD_RAY_ADDRESS": "auto"}) == "auto"
    assert address(["--ray", "10.0.0.5:6379"], {"SANAD_RAY_ADDRESS": "auto"}) == "10.0.0.5:6379"


def test_llm_settings_come_from_the_environment_and_the_key_is_never_shown():
    c = Config.load(env={"SANAD_LLM_URL": "https://llm.example/v1", "SANAD_LLM_API_KEY": "sk-hidden",
                         "SANAD_LLM_TIMEOUT": "12.5", "SANAD_LLM_MODEL": "qwen"})
    assert (c.llm_url, c.llm_model, c.llm_timeout, c.llm_api_key) == ("https://llm.example/v1", "qwen", 12.5,
                                                                      "sk-hidden")
    assert "sk-hidden" not in repr(c)


@pytest.mark.parametrize("values", [{"llm_url": "file:///etc/passwd"}, {"llm_url": "http://u:pw@h/v1"},
                                    {"llm_url": "http://h/v1?token=abc"}, {"llm_timeout": "0"},
                                    {"llm_passages": "0"}])
def test_bad_llm_settings_are_refused(values):
    with pytest.raises(ConfigError):
        Config.load(env={}, **values)
