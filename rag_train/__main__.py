"""``python -m rag_train``: train, resume and export the span reader (see ``rag_train.cli``)."""

from rag_train.cli import main

raise SystemExit(main())
