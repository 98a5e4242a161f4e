"""Command line: ``rag index | ask | serve | eval | trash``, a thin layer over the public API.

Training is not part of the library: ``rag-train-reader`` (``python -m rag_train``)."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from rag.errors import IndexCorrupt, IndexMismatch, IndexMissing, RagError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Offline question answering over a folder of news articles, with cited quotes.")

IndexOpt = Annotated[Path, typer.Option("--index", help="Index folder.")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _fail_with(error: Exception) -> NoReturn:
    """A library error as one line, with what to run about it (the library's messages name no command)."""
    message = str(error)
    index_dir = getattr(error, "index_dir", None)
    if isinstance(error, IndexMissing):
        message += f" (create it with: rag index CORPUS --index {index_dir})"
    elif isinstance(error, IndexCorrupt | IndexMismatch):
        message += f" (rag index CORPUS --index {index_dir} --rebuild)"
    _fail(message)


@app.command()
def index(
    corpus: Annotated[Path, typer.Argument(help="Folder of articles.")] = Path("seeds"),
    index_dir: IndexOpt = Path("index"),
    rebuild: Annotated[bool, typer.Option(help="Drop the index and build it anew.")] = False,
    max_tokens: Annotated[int, typer.Option(help="Chunk size in word pieces.")] = 200,
    overlap: Annotated[int, typer.Option(help="Sentences shared by neighbouring chunks.")] = 1,
    model: Annotated[str | None, typer.Option(help="Embedding model name or folder.")] = None,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="[ADDRESS]",
        help="Read, chunk and embed on the Ray cluster at ADDRESS (e.g. ray://host:10001 or auto), or on a "
             "local one when no address is given; needs the ray extra.")] = None,
    ray_actors: Annotated[int, typer.Option(help="With --ray: embedding actors (one model each).")] = 2,
    ray_batch_size: Annotated[int, typer.Option(help="With --ray: chunks per embedding call.")] = 256,
    ray_cpus: Annotated[int | None, typer.Option(help="With --ray and no address: CPUs of the local cluster.")] = None,
) -> None:
    """Index a folder of articles (only new or changed ones are embedded)."""
    from rag.embedding import Embedder
    from rag.indexer import update_index
    from rag.store import ChunkingConfig

    if not corpus.is_dir():
        _fail(f"corpus folder not found: {corpus}")
    try:
        chunking = ChunkingConfig(max_tokens=max_tokens, overlap=overlap)
        if ray is None:
            report = update_index(corpus, index_dir, Embedder(model), chunking, rebuild=rebuild,
                                  show_progress_bar=sys.stderr.isatty())
        else:
            from rag.distributed import RayOptions, ray_update_index

            options = RayOptions(address=None if ray == LOCAL_RAY else ray, num_cpus=ray_cpus,
                                 concurrency=ray_actors, batch_size=ray_batch_size)
            report = ray_update_index(corpus, index_dir, Embedder(model), chunking, options=options,
                                      rebuild=rebuild)
    except RagError as e:
        _fail_with(e)
    for issue in report.skipped:
        typer.echo(f"warning: skipped {issue}", err=True)
    typer.echo(
        f"indexed {corpus} -> {index_dir}: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.removed)} removed, {report.unchanged} unchanged; {report.documents} documents, "
        f"{report.chunks} chunks ({report.seconds:.1f} s)"
    )


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    index_dir: IndexOpt = Path("index"),
    top_k: Annotated[int | None, typer.Option(
        "--top-k", help="Passages given to the reader (default: the reader's own, reader_config.json).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Answer as JSON.")] = False,
    reader: Annotated[str, typer.Option(help="'default', 'sentence', or a QA checkpoint path / hub id.")] = "default",
    since: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Only articles published on or after this day (YYYY-MM-DD).")] = None,
    until: Annotated[datetime | None, typer.Option(
        formats=["%Y-%m-%d"], help="Only articles published on or before this day (YYYY-MM-DD).")] = None,
    source: Annotated[list[str] | None, typer.Option(help="Only articles from this publication (repeatable).")] = None,
) -> None:
    """Answer a question from an existing index, with the quoted sentence and its offsets."""
    from rag.assistant import Assistant, clean_question
    from rag.retriever import DocFilter

    try:
        clean_question(question)
        where = DocFilter(since=since.date() if since else None, until=until.date() if until else None,
                          sources=tuple(source) if source else None)
        qa = Assistant.open(index_dir, reader=reader)
        ans = qa.ask(question, top_k=top_k, where=where)
    except RagError as e:
        _fail_with(e)
    if as_json:
        typer.echo(ans.model_dump_json(indent=2))
        return
    if ans.notice:
        typer.echo(f"note: {ans.notice}", err=True)
    if ans.text is None:
        typer.echo("The articles do not answer this.")
        for p in ans.passages[:3]:
            typer.echo(f"  closest: [{p.doc_id}] {p.text[:160]}…")
        return
    typer.echo(f"{ans.text}    (score {ans.score:.2f}, by the {ans.answerer})")
    for c in ans.citations:
        typer.echo(f'  [{c.doc_id} {c.quote_start}:{c.quote_end}] "{c.quote}"')


@app.command()
def serve(
    index_dir: IndexOpt = Path("index"),
    corpus: Annotated[Path, typer.Option(help="Corpus to index when there is no index yet.")] = Path("seeds"),
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless you say otherwise).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 7860,
    auth: Annotated[list[str] | None, typer.Option(
        help="user:password, repeatable (or RAG_AUTH: pairs separated by spaces).")] = None,
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="Questions only: no upload, delete or restore.")] = False,
    admin: Annotated[list[str] | None, typer.Option(
        help="With --auth: a user who may upload, delete and restore (repeatable); others read only.")] = None,
) -> None:
    """Start the web chat (building the index from the corpus on first run)."""
    from ui.app import serve as serve_app

    try:
        serve_app(index_dir=index_dir, corpus=corpus, host=host, port=port,
                  auth=auth or os.environ.get("RAG_AUTH"), read_only=read_only, admins=admin)
    except RagError as e:
        _fail_with(e)


@app.command("eval")
def eval_cmd(
    dataset: Annotated[Path | None, typer.Argument(help="Our JSONL question set or a SQuAD JSON file.")] = None,
    corpus: Annotated[Path | None, typer.Option(help="Corpus folder (JSONL sets; default seeds/).")] = None,
    index_dir: Annotated[Path | None, typer.Option("--index", help="Index folder (default: a cache folder).")] = None,
    limit: Annotated[int | None, typer.Option(help="Sample this many questions.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --limit sampling.")] = 0,
    articles: Annotated[str | None, typer.Option(
        help="Only questions about these articles: comma-separated SQuAD titles or document ids.")] = None,
    split: Annotated[str | None, typer.Option(
        help="Only questions about one part of the dev-a article split (eval/splits/dev-a.json): "
             "tune, test, fit or select.")] = None,
    mode: Annotated[str, typer.Option(help="'open' (whole corpus) or 'gold' (gold document only).")] = "open",
    out: Annotated[Path | None, typer.Option(help="REPORT.json path (default eval/reports/...).")] = None,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", help="Passages given to the reader (default: the reader's own, reader_config.json).")] = None,
    reader: Annotated[str, typer.Option(help="'default', 'sentence', or a QA checkpoint path / hub id.")] = "default",
    threshold: Annotated[float | None, typer.Option(
        help="Answer threshold instead of the answerer's own (0: always answer).")] = None,
    history: Annotated[bool, typer.Option(
        "--history/--no-history",
        help="Dialogue sets: ask each dialogue's earlier turns first (--no-history: the last turn alone).")] = True,
    compare: Annotated[tuple[Path, Path] | None, typer.Option(help="OLD.json NEW.json: print the deltas.")] = None,
) -> None:
    """Evaluate on a question set (EM/F1, abstention, retrieval, citations, latency) or compare two reports."""
    from eval.runner import compare as compare_reports
    from eval.runner import run

    if compare:
        typer.echo(compare_reports(*compare))
        return
    if dataset is None:
        _fail("give a DATASET to evaluate, or --compare OLD.json NEW.json")
    if mode not in {"open", "gold"}:
        _fail("--mode must be 'open' or 'gold'")
    try:
        chosen = [a.strip() for a in articles.split(",") if a.strip()] if articles else None
        if split:
            from eval.squad import SPLIT_FILE, read_article_split

            parts = read_article_split(SPLIT_FILE)
            if split not in parts:
                _fail(f"--split must be one of {', '.join(parts)}")
            chosen = (chosen or []) + parts[split]
        report = run(dataset, corpus=corpus, index_dir=index_dir, limit=limit, seed=seed, mode=mode, out=out,
                     progress=sys.stderr.isatty(), top_k=top_k, reader=reader, threshold=threshold,
                     articles=chosen, use_history=history)
    except (RagError, FileNotFoundError, ValueError) as e:
        _fail_with(e)
    from eval.report import SUMMARY_KEYS, fmt

    for key, label in SUMMARY_KEYS:
        typer.echo(f"{label:<24}{fmt(report.get(key), key)}")
    typer.echo(f"report: {report['meta']['out']}")


trash_app = typer.Typer(no_args_is_help=True, help="Deleted articles: list, restore, empty.")
app.add_typer(trash_app, name="trash")


def _trash_of(index_dir: Path) -> Any:
    from rag.store import IndexStore
    from rag.trash import Trash

    manifest = IndexStore.read_manifest(index_dir)
    if not manifest.corpus:
        _fail(f"the index at {index_dir} records no corpus folder, so it has no trash")
    return Trash(manifest.corpus)


@trash_app.command("list")
def trash_list(index_dir: IndexOpt = Path("index")) -> None:
    """The deleted articles that can be restored, oldest first."""
    try:
        entries = _trash_of(index_dir).pending()
    except RagError as e:
        _fail_with(e)
    for entry in entries:
        where = ", ".join(entry.paths) if entry.kind == "file" else f"{entry.paths[0]} (tombstone; the file stays)"
        typer.echo(f"{entry.entry_id}\t{entry.doc_id}\t{entry.time}\t{where}")
    if not entries:
        typer.echo("the trash is empty")


@trash_app.command("restore")
def trash_restore(key: Annotated[str, typer.Argument(help="Trash entry id, or the article id.")],
                  index_dir: IndexOpt = Path("index")) -> None:
    """Put a deleted article back into the corpus folder and index it again."""
    from rag.assistant import Assistant

    try:
        report = Assistant.open(index_dir, reader="sentence").restore(key)
    except (RagError, ValueError) as e:
        _fail_with(e)
    typer.echo(f"restored {key}: {len(report.added)} added, {len(report.updated)} updated")


@trash_app.command("empty")
def trash_empty(index_dir: IndexOpt = Path("index"),
                older_than: Annotated[float | None, typer.Option(
                    "--older-than", help="Only entries older than this many days.")] = None) -> None:
    """Delete the trash's files for good (the only command that removes an article file)."""
    try:
        gone = _trash_of(index_dir).empty(older_than)
    except RagError as e:
        _fail_with(e)
    typer.echo(f"emptied {len(gone)} entr{'y' if len(gone) == 1 else 'ies'}")


LOCAL_RAY = "local"  # what a bare ``--ray`` stands for


def optional_values(args: list[str]) -> list[str]:
    """``args`` with a bare ``--ray`` (last, or before another option) given its default value: Click has
    no option whose value may be left out."""
    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == "--ray" and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(LOCAL_RAY)
    return out


def main() -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    app(args=optional_values(sys.argv[1:]))


if __name__ == "__main__":
    main()
