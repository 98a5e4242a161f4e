"""Adding one article to a 100,000-passage index.

    python -m bench.bench_update                       # 100,000 passages, 5 additions
    python -m bench.bench_update --passages 5000 --repeat 2

The index: SQuAD v1.1 dev-a paragraphs copied until their chunks number ``--passages`` (each copy a
record in JSONL files of 5,000 records in the corpus folder, with a copy number in its text so that
every document is distinct), chunked as ``rag index`` chunks them, with vectors from the scale benchmark's real
embeddings plus small perturbations (``bench/scale_data.py``: encoding 100,000 chunks here would take
an hour and change nothing that is measured) and saved through ``IndexStore``; past 50,000 passages
it is IVF-SQ8, as in the product. It is built once under ``.cache/bench/update`` and copied afresh
for every run.

Measured, a new article (a new ``.txt`` file in the corpus folder) each time:

1. ``Assistant.add([path])``, what the web app's upload runs: read that one file, change a copy of
   the open index, save it, and search the new article at once (BM25 over the whole collection is
   rebuilt in the background; the time until that is done is reported too);
2. ``update_index(corpus, index, embedder)`` with the model already loaded, what ``rag index`` runs,
   split into its phases with the progress callback: read the corpus and open the index, chunk,
   embed, save;
3. ``Assistant.update()``, re-indexing the whole folder from a running app: the same as 2, then
   reloading the snapshot (open the index again, rebuild BM25).

Medians printed and written to ``bench/results/update.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DEV_A, cache_dir, median, write_result
from bench.scale_data import real_embeddings

RECORDS_PER_FILE = 5_000
ARTICLE = (
    "BRUSSELS -- Ministers agreed on Tuesday to open {n} new rail links between the member states by 2030, "
    "the European Commission said in a statement.\n\nThe plan, number {n} of its kind, sets aside 2.5 billion "
    "euros for cross-border lines. Transport commissioner Adina Valean said the links would cut journey times "
    "by a third. Critics said the money was too little and came too late for the freight companies that need "
    "it most.\n\nThe first links are to open in 2026 between Poland and Lithuania."
)


def build_base(folder: Path, passages: int, seed: int = 0, base_limit: int | None = None) -> None:
    """Corpus (one JSONL of paragraph copies) + index of ``passages`` chunks, saved with IndexStore."""
    from eval.datasets import load_squad
    from rag.chunking import chunk_document
    from rag.embedding import Embedder
    from rag.ingest import load_corpus
    from rag.store import ChunkingConfig, IndexStore

    if folder.exists():
        shutil.rmtree(folder)
    corpus, index = folder / "corpus", folder / "index"
    corpus.mkdir(parents=True)
    paras = load_squad(DEV_A).documents
    emb = Embedder()
    cfg = ChunkingConfig()
    per_para = [len(chunk_document(_doc(p["id"], p["title"], p["text"]), cfg.max_tokens, cfg.overlap,
                                   emb.count_tokens)) for p in paras[:200]]
    n_records = int(passages / (sum(per_para) / len(per_para)) * 1.1) + 1
    for part in range(0, n_records, RECORDS_PER_FILE):  # files of a few MB (ingest refuses huge ones)
        with (corpus / f"articles-{part // RECORDS_PER_FILE:03d}.jsonl").open("w", encoding="utf-8") as f:
            for i in range(part, min(n_records, part + RECORDS_PER_FILE)):
                p = paras[i % len(paras)]
                copy = i // len(paras)
                text = p["text"] if copy == 0 else f"{p['text']} (Copy {copy}.)"
                f.write(json.dumps({"id": f"{p['id']}-{copy:03d}", "title": p["title"], "text": text}) + "\n")
    docs, issues = load_corpus(corpus)
    if issues:
        raise RuntimeError(f"corpus not read whole: {issues[:3]}")
    base, _ = real_embeddings(limit=base_limit, n_queries=1000 if base_limit is None else 5)
    rng = np.random.default_rng(seed)
    store = IndexStore.create(index, emb.name, emb.dim, cfg)
    store.manifest.corpus = str(corpus.resolve())
    total = 0
    for doc in docs:
        if total >= passages:
            break
        chunks = chunk_document(doc, cfg.max_tokens, cfg.overlap, emb.count_tokens)[: passages - total]
        vecs = base[rng.integers(0, len(base), len(chunks))] + 0.02 * rng.standard_normal((len(chunks), emb.dim))
        vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
        store.add_document(doc, chunks, vecs)
        total += len(chunks)
    # Keep the corpus and the index in step: only the documents that made it in stay in the corpus.
    kept = set(store.documents)
    for f in sorted(corpus.glob("articles-*.jsonl")):
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
        body = "".join(ln for ln in lines if _doc_id(ln) in kept)
        f.write_text(body, encoding="utf-8") if body else f.unlink()
    store.save()
    emb.export_query_encoder()  # the per-model cache, as the indexer does


def _doc(doc_id: str, title: str, text: str) -> Any:
    from rag.schema import Document

    return Document(doc_id=doc_id, title=title, text=text)


def _doc_id(line: str) -> str:
    return str(json.loads(line)["id"])


def phases(events: list[tuple[float, float, str]], t0: float, total: float) -> dict[str, float]:
    """Seconds per phase of ``update_index`` from its progress events (fraction marks 0, .05, .1, .95, 1)."""
    marks = {frac: t for t, frac, _ in events}
    t_chunk = marks.get(0.05, t0)
    t_embed = marks.get(0.1, t_chunk)
    t_save = marks.get(0.95, t_embed)
    t_end = marks.get(1.0, t0 + total)
    return {
        "read_and_open_s": round(t_chunk - t0, 3),
        "chunk_s": round(t_embed - t_chunk, 3),
        "embed_s": round(t_save - t_embed, 3),
        "save_s": round(t_end - t_save, 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passages", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached base index")
    ap.add_argument("--base-limit", type=int, default=None, help="embed the first N paragraphs only (smoke)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--name", default="update")
    ap.add_argument("--build-only", action="store_true", help="only build the cached base index")
    args = ap.parse_args(argv)

    from rag import Assistant
    from rag.embedding import Embedder
    from rag.indexer import update_index
    from rag.store import IndexStore

    pristine = cache_dir() / "update" / str(args.passages)
    if args.rebuild or not IndexStore.exists(pristine / "index"):
        t = time.perf_counter()
        print(f"building the base index of {args.passages:,} passages ...", flush=True)
        build_base(pristine, args.passages, base_limit=args.base_limit)
        print(f"  built in {time.perf_counter() - t:.1f} s", flush=True)
    if args.build_only:
        return 0
    work = cache_dir() / "update" / f"work-{args.passages}"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(pristine, work)
    corpus, index = work / "corpus", work / "index"
    manifest = IndexStore.read_manifest(index)
    manifest_obj = json.loads((index / "manifest.json").read_text())
    size = {
        "passages": sum(len(e.chunk_ids) for e in manifest.documents.values()),
        "documents": len(manifest.documents),
        "index_type": manifest.index_type,
        "files_mb": {k: round(v["size"] / 2**20, 1) for k, v in manifest_obj["files"].items()},
        "manifest_mb": round((index / "manifest.json").stat().st_size / 2**20, 1),
    }
    print(f"index: {size}", flush=True)
    if abs(size["passages"] - args.passages) > 0.01 * args.passages:
        raise SystemExit(f"the base index has {size['passages']} passages, not {args.passages}; use --rebuild")

    emb = Embedder()
    emb.encode(["warm up"])  # a running app has its model loaded
    update_index(corpus, index, emb)  # records the work copy's corpus folder in the manifest
    qa = Assistant.open(index, reader="sentence")
    qa.embedder = emb  # share the loaded model, as the app's one process does
    (corpus / "uploads").mkdir(exist_ok=True)
    added: list[dict[str, Any]] = []
    for r in range(args.repeat):
        path = corpus / "uploads" / f"upload-{r:03d}.txt"
        path.write_text(ARTICLE.format(n=200 + r), encoding="utf-8")
        t0 = time.perf_counter()
        rep = qa.add([path])
        total = time.perf_counter() - t0
        # (the uploads differ only in their numbers, so earlier ones compete closely: look at the top 10)
        hits = qa.retrieve(f"plan number {200 + r} rail links", k=10)
        searchable = time.perf_counter() - t0
        assert rep.added == [f"upload-{r:03d}"], rep.added
        assert f"upload-{r:03d}" in [h.doc_id for h in hits], [h.doc_id for h in hits]
        qa.wait_for_background()
        added.append({"seconds": round(total, 3), "until_found_s": round(searchable, 3),
                      "embed_s": round(rep.embed_seconds, 3),
                      "bm25_rebuilt_after_s": round(time.perf_counter() - t0, 3)})
        print(f"  Assistant.add #{r + 1}: {total:.2f} s {added[-1]}", flush=True)
    direct: list[dict[str, Any]] = []
    for r in range(args.repeat):
        (corpus / f"new-{r:03d}.txt").write_text(ARTICLE.format(n=r + 1), encoding="utf-8")
        events: list[tuple[float, float, str]] = []

        def note(frac: float, msg: str, events: list[tuple[float, float, str]] = events) -> None:
            events.append((time.perf_counter(), frac, msg))

        t0 = time.perf_counter()
        rep = update_index(corpus, index, emb, progress=note)
        total = time.perf_counter() - t0
        assert rep.added == [f"new-{r:03d}"], rep.added
        direct.append({"seconds": round(total, 3), "chunks_embedded": rep.chunks_embedded,
                       **phases(events, t0, total)})
        print(f"  update_index #{r + 1}: {total:.2f} s {direct[-1]}", flush=True)

    qa = Assistant.open(index, reader="sentence")  # the folder changed under the first one
    qa.embedder = emb
    via_app: list[dict[str, Any]] = []
    for r in range(args.repeat):
        name = f"app-{r:03d}"
        (corpus / f"{name}.txt").write_text(ARTICLE.format(n=100 + r), encoding="utf-8")
        t0 = time.perf_counter()
        rep = qa.update()
        total = time.perf_counter() - t0
        assert rep.added == [name], rep.added
        assert qa.retrieve(f"plan number {100 + r} rail links", k=3)
        via_app.append({"seconds": round(total, 3), "update_index_s": round(rep.seconds, 3),
                        "reload_s": round(total - rep.seconds, 3)})
        print(f"  Assistant.update #{r + 1}: {total:.2f} s {via_app[-1]}", flush=True)

    def med(rows: list[dict[str, Any]]) -> dict[str, float]:
        return {k: round(median([row[k] for row in rows]), 3) for k in rows[0] if isinstance(rows[0][k], float)}

    res = {"index": size, "assistant_add": med(added), "update_index": med(direct),
           "assistant_update": med(via_app),
           "runs": {"assistant_add": added, "update_index": direct, "assistant_update": via_app}}
    print(f"median: Assistant.add {res['assistant_add']['seconds']:.2f} s {res['assistant_add']}; "
          f"update_index {res['update_index']['seconds']:.2f} s {res['update_index']}; "
          f"Assistant.update {res['assistant_update']['seconds']:.2f} s {res['assistant_update']}")
    shutil.rmtree(work, ignore_errors=True)
    write_result(args.name, {"command": "python -m bench.bench_update " + " ".join(
        sys.argv[1:] if argv is None else argv), **res}, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
