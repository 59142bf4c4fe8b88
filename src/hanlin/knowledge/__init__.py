"""Enterprise knowledge bases: extract → normalize → chunk → index (jieba/BM25 + e5) → retrieve → cited answers."""
