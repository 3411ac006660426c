"""What a relay serves: only the models it was configured for, each sent with
its own provider's key to its own provider's host; anything else is a 404 in
OpenAI's error shape naming what is allowed. Real sockets throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import streamactors as sa
from streamactors.providers import PROVIDERS
from streamactors.testing import LoopbackServer, Script

openai = pytest.importorskip("openai")

MSGS: list[Any] = [{"role": "user", "content": "hi"}]
ANTHROPIC_KEY = "sk-ant-relay-test-0123456789"
GEMINI_KEY = "gem-relay-test-0123456789"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No provider key or base URL from the machine running the tests."""
    for info in PROVIDERS.values():
        for name in (*info.key_env, info.base_env):
            if name:
                monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def elsewhere() -> Iterator[LoopbackServer]:
    """Where the Anthropic and Gemini environment points: nothing may arrive."""
    with LoopbackServer(Script(text="from elsewhere")) as server:
        yield server


def _post(relay: sa.RelayServer, model: Any, **extra: Any) -> requests.Response:
    body = {"messages": MSGS, "stream": True, **extra}
    if model is not None:
        body["model"] = model
    return requests.post(relay.url + "/v1/chat/completions", json=body, timeout=10)


def _text(r: requests.Response) -> str:
    """The content an OpenAI client would add up from the relay's answer."""
    text = ""
    for event in r.content.split(b"\n\n"):
        if event.startswith(b"data: {"):
            for choice in json.loads(event[6:])["choices"]:
                text += choice["delta"].get("content") or ""
    return text


def _raw(server: LoopbackServer) -> str:
    """Everything the server received: paths, headers and bodies."""
    return "\n".join(f"{r.path} {r.query} {r.headers} {r.body.decode('utf-8', 'replace')}"
                     for r in server.requests)


@pytest.mark.timeout(20)
def test_base_url_never_receives_another_providers_key(
        loopback_server: LoopbackServer, elsewhere: LoopbackServer,
        clean_env: pytest.MonkeyPatch) -> None:
    """§2: ``--model openai-compatible/m --base-url X`` with Anthropic and
    Gemini keys in the environment: requests for those providers get 404 and
    neither key is sent anywhere."""
    clean_env.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    clean_env.setenv("GEMINI_API_KEY", GEMINI_KEY)
    clean_env.setenv("ANTHROPIC_BASE_URL", elsewhere.url("anthropic"))
    clean_env.setenv("GEMINI_BASE_URL", elsewhere.url("gemini"))
    loopback_server.script = Script(text="served")
    with sa.RelayServer(models=["openai-compatible/m"], port=0,
                        base_url=loopback_server.url("openai-compatible")) as relay:
        refused = [_post(relay, name) for name in
                   ("anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash", "claude-haiku-4-5")]
        served = _post(relay, "m")
    for r in refused:
        assert r.status_code == 404, r.text
        assert r.json()["error"]["message"].endswith("allowed: openai-compatible/m")
    assert served.status_code == 200 and _text(served) == "served"
    assert len(loopback_server.requests) == 1 and elsewhere.requests == []
    seen = _raw(loopback_server)
    assert ANTHROPIC_KEY not in seen and GEMINI_KEY not in seen


@pytest.mark.timeout(20)
def test_an_allowed_provider_gets_its_own_host_and_key(
        loopback_server: LoopbackServer, elsewhere: LoopbackServer,
        clean_env: pytest.MonkeyPatch) -> None:
    """The base URL is passed for its provider's models only: a pattern that
    lets ``anthropic/*`` in sends Anthropic's key to Anthropic's own host."""
    clean_env.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    clean_env.setenv("ANTHROPIC_BASE_URL", elsewhere.url("anthropic"))
    with sa.RelayServer(models=["openai-compatible/m"], allow_models=["anthropic/claude-*"],
                        base_url=loopback_server.url("openai-compatible"), port=0) as relay:
        ok = _post(relay, "anthropic/claude-x")
        wrong_family = _post(relay, "anthropic/other")
        listed = requests.get(relay.url + "/v1/models", timeout=5).json()
    assert ok.status_code == 200 and _text(ok) == "from elsewhere"
    assert wrong_family.status_code == 404
    (req,) = elsewhere.requests
    assert req.path == "/v1/messages" and req.headers["x-api-key"] == ANTHROPIC_KEY
    assert loopback_server.requests == []
    assert [m["id"] for m in listed["data"]] == ["openai-compatible/m", "anthropic/claude-*"]


@pytest.mark.timeout(20)
def test_a_misspelled_model_gets_404_naming_the_allowed_ones(
        loopback_server: LoopbackServer) -> None:
    client = sa.Client(base_url=loopback_server.url("openai"), api_key="sk-test", max_retries=0)
    with sa.RelayServer(models=["openai/gpt-4o-mini", "openai/gpt-4o"], client=client,
                        port=0) as relay, \
            openai.OpenAI(base_url=relay.url + "/v1", api_key="x", max_retries=0,
                          timeout=10) as sdk:
        with pytest.raises(openai.NotFoundError) as ei:
            sdk.chat.completions.create(model="gpt-4o-mni", messages=MSGS, stream=True)
        bare = list(sdk.chat.completions.create(model="gpt-4o-mini", messages=MSGS,
                                                stream=True))
        missing = _post(relay, None)
    client.close()
    assert ei.value.status_code == 404
    assert ei.value.body == {
        "message": "model 'gpt-4o-mni' is not served by this relay; allowed: "
                   "openai/gpt-4o-mini, openai/gpt-4o",
        "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    assert bare, "a bare model part names its one configured model"
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
    assert [r.json()["model"] for r in loopback_server.requests] == ["gpt-4o-mini"]


@pytest.mark.timeout(20)
def test_a_bare_name_two_models_share_is_ambiguous() -> None:
    client = sa.Client(api_key="sk-test", max_retries=0)
    with sa.RelayServer(models=["openai/m", "mistral/m"], client=client, port=0,
                        base_url=None) as relay:
        r = _post(relay, "m")
    client.close()
    assert r.status_code == 404
    assert "ambiguous" in r.json()["error"]["message"]
    assert "openai/m, mistral/m" in r.json()["error"]["message"]


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"models": ["openai-compatible/a", "anthropic/b"], "base_url": "http://127.0.0.1:9/v1"},
     ["base_url", "anthropic", "openai-compatible", "one relay per base URL"]),
    ({"allow_models": ["*"], "base_url": "http://127.0.0.1:9/v1"}, ["base_url", "*"]),
    ({}, ["serves no model", "models="]),
    ({"models": ["gpt-4o"]}, ["'gpt-4o'", "provider/model"]),
    ({"allow_models": "ollama/*"}, ["allow_models", "list"]),
    ({"model": "openai/m", "max_retries": -1}, ["max_retries"]),
])
def test_bad_configurations_are_refused_at_construction(kwargs: dict[str, Any],
                                                        words: list[str]) -> None:
    with pytest.raises(sa.ConfigurationError) as ei:
        sa.RelayServer(port=0, **kwargs)
    for word in words:
        assert word in str(ei.value)
