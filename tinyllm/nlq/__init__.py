"""Natural-language questions -> Elasticsearch Query DSL: backend, safety gate, teachers, examples, evaluation."""
