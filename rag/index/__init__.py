"""The index: embedding, the row store, BM25 and FAISS, building generations, and search."""
