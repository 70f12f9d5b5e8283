"""ids -> text: logit transforms, decoding loops (greedy, sampling, beam) and the `tinyllm sample` command."""
