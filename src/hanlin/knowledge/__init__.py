"""Enterprise knowledge bases: extract → normalise → chunk → index (jieba/BM25 + e5) → retrieve → cited answers."""
