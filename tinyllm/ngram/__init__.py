"""Count-based language models (naive, add-k, Kneser-Ney, stupid backoff, infini-gram) behind one interface."""
