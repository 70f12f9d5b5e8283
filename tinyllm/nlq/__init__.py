"""Natural-language questions -> Elasticsearch Query DSL: backend, safety gate, teachers, examples, evaluation.

Reading order: schema (the two indexes and their fields) -> backend/osmem/loader (an engine holding them) ->
validate (the safety gate every query passes) -> evaluate (execution accuracy) -> baseline (the keyword floor)
-> cli (`tinyllm nlq ...`). Teachers, distillation and example retrieval build on these.
"""
