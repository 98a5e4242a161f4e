"""Who may change the library: read-only serving and admin-only changes, refused by the server itself.

The page hides what a user may not do; these tests call the server's events directly (Gradio's queue
API over HTTP, as a script would, bypassing the page) to check that the handlers refuse them too.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import httpx  # noqa: E402
import pytest  # noqa: E402
from gradio_client import Client  # noqa: E402

from rag.assistant import Assistant  # noqa: E402
from rag.indexer import update_index  # noqa: E402
from rag.store import ChunkingConfig  # noqa: E402
from tests.ui_server import free_port  # noqa: E402
from ui.app import Access, Handlers, access_for, create_app, launch, parse_users  # noqa: E402

from .conftest import FakeEmbedder  # noqa: E402

SEED = "000_dcecbc81de0b1c39"
CHANGING = {"rag-upload", "rag-delete", "rag-confirm-delete", "rag-undo", "rag-restore", "rag-trash-choice"}
USERS = [("ann", "s3cret"), ("bob", "hunter2")]


def fake_qa(corpus: Path, index: Path) -> Assistant:
    emb = FakeEmbedder()
    update_index(corpus, index, emb, ChunkingConfig(max_tokens=60, overlap=1))
    return Assistant(index, emb, reader="sentence")  # type: ignore[arg-type]


class FakeRequest:
    """What the handlers read from ``gr.Request``: the logged-in user."""

    def __init__(self, username: str | None) -> None:
        self.username = username


# ---- the policy ---------------------------------------------------------------------------------
def test_access_policy() -> None:
    assert Access().may_change(None) and Access().may_change("anyone")
    assert not Access(read_only=True).may_change("ann")
    admins = Access(admins=frozenset({"ann"}))
    assert admins.may_change("ann") and not admins.may_change("bob") and not admins.may_change(None)
    assert not Access(read_only=True, admins=frozenset({"ann"})).may_change("ann")


def test_users_and_admins_from_the_command_line() -> None:
    assert parse_users(None) == [] and parse_users("ann:s3cret bob:pw:x") == [("ann", "s3cret"), ("bob", "pw:x")]
    assert parse_users(["ann:s3cret", "bob:pw"]) == [("ann", "s3cret"), ("bob", "pw")]
    with pytest.raises(ValueError, match="twice"):
        parse_users(["ann:a", "ann:b"])
    with pytest.raises(ValueError, match="needs --auth"):
        access_for([], False, ["ann"])
    with pytest.raises(ValueError, match="without a login: carl"):
        access_for(USERS, False, ["ann", "carl"])
    assert access_for(USERS, False, ["ann"]) == Access(admins=frozenset({"ann"}))
    assert access_for([], True, None) == Access(read_only=True)


def test_handlers_refuse_changes_to_those_who_may_not(seeds_copy: Path, tmp_path: Path) -> None:
    qa = fake_qa(seeds_copy, tmp_path / "index")
    handlers = Handlers(qa, Access(admins=frozenset({"ann"})))
    bob, ann = FakeRequest("bob"), FakeRequest("ann")
    upload = tmp_path / "new.txt"
    upload.write_text("A new article about the alliance.")
    for call in (lambda r: handlers.ask_delete(SEED, r), lambda r: handlers.delete_doc(SEED, r),
                 lambda r: handlers.restore_entry(SEED, r), lambda r: handlers.add_files([str(upload)], r)):
        with pytest.raises(gr.Error, match="read-only"):
            call(bob)  # type: ignore[no-untyped-call]
    assert SEED in {d.doc_id for d in qa.documents()} and (seeds_copy / f"{SEED}.txt").exists()
    assert not (seeds_copy / "uploads").exists()
    handlers.delete_doc(SEED, ann)  # type: ignore[arg-type]
    assert SEED not in {d.doc_id for d in qa.documents()}
    assert qa.changes(1)[0].user == "ann"
    read_only = Handlers(qa, Access(read_only=True))
    with pytest.raises(gr.Error, match="read-only"):
        read_only.restore_entry(SEED, ann)  # type: ignore[arg-type]


# ---- the running server, called directly ----------------------------------------------------------
def _config(base: str, http: httpx.Client) -> dict[str, Any]:
    r = http.get(base + "config")
    r.raise_for_status()
    return dict(r.json())


def _elem_ids(config: dict[str, Any]) -> set[str]:
    return {c.get("props", {}).get("elem_id") for c in config["components"]} - {None}


def _run(base: str, http: httpx.Client, session: str, fn_index: int, trigger: int | None,
         data: list[Any]) -> dict[str, Any]:
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": trigger}
    r = http.post(base + "gradio_api/queue/join", json=body)
    r.raise_for_status()
    with http.stream("GET", base + "gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return dict(msg)
    raise AssertionError("the event never completed")


def direct_call(base: str, http: httpx.Client, elem_id: str, event: str, data: list[Any]) -> dict[str, Any]:
    """Run the event ``event`` of the component ``elem_id`` through Gradio's queue API as a script
    would (no page), after the page-load event of the same session (which fills the choices that
    Gradio checks inputs against); returns the final message (``success``, ``output``)."""
    config = _config(base, http)
    comp = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)
    dep = next(d for d in config["dependencies"] if [comp, event] in d["targets"])
    session = uuid.uuid4().hex
    for load in (d for d in config["dependencies"] if any(t[1] == "load" for t in d["targets"])):
        assert _run(base, http, session, load["id"], None, [])["success"]
    return _run(base, http, session, dep["id"], comp, data)


@pytest.fixture
def qa(seeds_copy: Path, tmp_path: Path) -> Assistant:
    return fake_qa(seeds_copy, tmp_path / "index")


@pytest.fixture
def served(qa: Assistant, request: pytest.FixtureRequest) -> Iterator[str]:
    access, users = request.param
    app = create_app(qa, access=access)
    url = launch(app, host="127.0.0.1", port=free_port(), auth=users or None, block=False)
    try:
        yield url.rstrip("/") + "/"
    finally:
        app.close()


@contextmanager
def _login(base: str, user: tuple[str, str] | None) -> Iterator[httpx.Client]:
    """An HTTP session, logged in as ``user`` when given."""
    with httpx.Client(timeout=60) as http:
        if user is not None:
            r = http.post(base + "login", data={"username": user[0], "password": user[1]})
            assert r.status_code == 200, r.text
        yield http


@pytest.mark.parametrize("served", [(Access(read_only=True), None)], indirect=True)
def test_read_only_server_has_no_way_to_change_the_library(served: str, qa: Assistant, seeds_copy: Path) -> None:
    client = Client(served, verbose=False)
    assert list(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == ["/ask"]
    out = client.predict("Who leads the battalion?", 3, api_name="/ask")
    assert out["question"] == "Who leads the battalion?"
    with _login(served, None) as http:
        ids = _elem_ids(_config(served, http))
        assert "rag-library" in ids and "rag-changes" in ids
        assert not ids & CHANGING  # no control, and so no event, that changes the library exists
    assert len(qa.documents()) == 3 and (seeds_copy / f"{SEED}.txt").exists()


@pytest.mark.parametrize("served", [(Access(admins=frozenset({"ann"})), USERS)], indirect=True)
def test_only_an_admin_may_delete_even_when_calling_the_server_directly(served: str, qa: Assistant,
                                                                         seeds_copy: Path) -> None:
    with _login(served, USERS[1]) as bob:  # logged in, not an admin: his session lists no article to delete
        done = direct_call(served, bob, "rag-confirm-delete", "click", [SEED])
        assert done["success"] is False and "not in the list of choices" in json.dumps(done["output"])
    # the handler refuses him too (test_handlers_refuse_changes_to_those_who_may_not calls it directly)
    assert SEED in {d.doc_id for d in qa.documents()} and (seeds_copy / f"{SEED}.txt").exists()
    with _login(served, USERS[0]) as ann:
        done = direct_call(served, ann, "rag-confirm-delete", "click", [SEED])
        assert done["success"] is True, done
    assert SEED not in {d.doc_id for d in qa.documents()} and not (seeds_copy / f"{SEED}.txt").exists()
    assert qa.changes(1)[0].user == "ann" and qa.changes(1)[0].action == "delete"


def test_the_page_gives_no_article_or_trash_list_to_those_who_may_not_change(seeds_copy: Path,
                                                                            tmp_path: Path) -> None:
    qa = fake_qa(seeds_copy, tmp_path / "index")
    handlers = Handlers(qa, Access(admins=frozenset({"ann"})))
    _, to_delete, trash, _, box = handlers.admin_view(FakeRequest("bob"))  # type: ignore[arg-type]
    assert to_delete["choices"] == [] and trash["choices"] == [] and box["visible"] is False
    _, to_delete, _, _, box = handlers.admin_view(FakeRequest("ann"))  # type: ignore[arg-type]
    assert SEED in {v for _, v in to_delete["choices"]} and box["visible"] is True
