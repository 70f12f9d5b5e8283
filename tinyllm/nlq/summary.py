"""Turn an engine response into what a person wants to see: the count, the key fields of each hit, the buckets.

Two views of one response. `result_of` keeps the parts worth returning over HTTP (total, hits, aggregations) as
JSON; `format_result` renders that as a few readable lines for the terminal. Both know only the response shape,
not the question, so any validated search body can be summarised.
"""
import json

# Per index, the fields that identify a hit at a glance, in display order (the rest stays in the JSON view).
KEY_FIELDS = {
    "articles": ("arxiv_id", "publication_date", "author", "title", "categories"),
    "gutenberg": ("book_id", "passage", "author", "title", "content"),
}
MAX_CELL = 90            # characters of one field value on the terminal before it is cut with "..."
MAX_BUCKET_LINES = 20    # buckets shown per aggregation level; the JSON view keeps them all


def result_of(response):
    """The parts of a search response worth returning: took, total, hits (id, score, source, sort), aggregations."""
    hits = response.get("hits", {})
    total = hits.get("total", {})
    if isinstance(total, int):                     # very old engines answer a bare number
        total = {"value": total, "relation": "eq"}
    out = {"took_ms": response.get("took"), "total": total, "hits": []}
    for h in hits.get("hits", []):
        hit = {"_id": h.get("_id"), "_score": h.get("_score"), "_source": h.get("_source", {})}
        for key in ("sort", "highlight"):
            if key in h:
                hit[key] = h[key]
        out["hits"].append(hit)
    if "aggregations" in response:
        out["aggregations"] = response["aggregations"]
    return out


def _cell(value):
    """One field value as a single short line: lists joined, whitespace collapsed, long text cut."""
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + "..."


def format_hit(index, rank, hit):
    """`  3. 2503.11849 | 2025-03-18 | Yi Wang | Towards a ... | cs.CV` (the index's key fields that are present)."""
    source = hit.get("_source") or {}
    fields = [f for f in KEY_FIELDS.get(index, ()) if f in source] or sorted(source)
    cells = [_cell(source[f]) for f in fields]
    if not cells:                                 # _source filtered away: the id is all there is
        cells = [str(hit.get("_id"))]
    line = f"  {rank:>2}. " + " | ".join(cells)
    if "sort" in hit:
        line += f"   (sort: {_cell(hit['sort'])})"
    return line


def _bucket_key(bucket):
    return bucket.get("key_as_string", bucket.get("key"))


def _is_sub_agg(value):
    return isinstance(value, dict) and any(k in value for k in ("buckets", "value", "hits", "doc_count", "count"))


def format_aggregation(name, agg, indent="  "):
    """Readable lines for one aggregation result of any shape: buckets, a metric value, stats, top hits, filter."""
    lines = []
    if "buckets" in agg:
        buckets = agg["buckets"]
        if isinstance(buckets, dict):              # keyed buckets: {"name": {...}}
            buckets = [dict(b, key=k) for k, b in buckets.items()]
        lines.append(f"{indent}{name}: {len(buckets)} bucket(s)")
        for b in buckets[:MAX_BUCKET_LINES]:
            lines.append(f"{indent}  {_cell(_bucket_key(b))}: {b.get('doc_count', 0):,}")
            for sub, value in b.items():
                if _is_sub_agg(value):
                    lines += format_aggregation(sub, value, indent + "    ")
        if len(buckets) > MAX_BUCKET_LINES:
            lines.append(f"{indent}  ... {len(buckets) - MAX_BUCKET_LINES} more (see --json)")
    elif "value" in agg:
        value = agg.get("value_as_string", agg["value"])
        lines.append(f"{indent}{name}: {value:,}" if isinstance(value, int) else f"{indent}{name}: {value}")
    elif "hits" in agg:                           # top_hits
        inner = agg["hits"].get("hits", [])
        lines.append(f"{indent}{name}: {len(inner)} hit(s)")
        lines += [indent + "  " + _cell(h.get("_source") or h.get("_id")) for h in inner]
    elif "count" in agg and "min" in agg:        # stats
        keys = ("count", "min", "max", "avg", "sum")
        lines.append(f"{indent}{name}: " + ", ".join(f"{k}={agg.get(k + '_as_string', agg.get(k))}" for k in keys))
    elif "doc_count" in agg:                      # filter: a count plus nested aggregations
        lines.append(f"{indent}{name}: {agg['doc_count']:,} document(s)")
        for sub, value in agg.items():
            if _is_sub_agg(value):
                lines += format_aggregation(sub, value, indent + "  ")
    else:
        lines.append(f"{indent}{name}: {json.dumps(agg, ensure_ascii=False)}")
    return lines


def format_result(index, result):
    """The terminal summary of `result_of(response)`: count line, one line per hit, then each aggregation."""
    total = result.get("total") or {}
    value, relation = total.get("value", 0), total.get("relation", "eq")
    more = "or more " if relation == "gte" else ""
    hits = result.get("hits", [])
    took = result.get("took_ms")
    lines = [f"{index}: {value:,} {more}matching document(s)" + (f", {took} ms" if took is not None else "")]
    if hits:
        lines.append(f"top {len(hits)} hit(s):")
        lines += [format_hit(index, i, h) for i, h in enumerate(hits, 1)]
    aggs = result.get("aggregations") or {}
    if aggs:
        lines.append("aggregations:")
        for name, agg in aggs.items():
            lines += format_aggregation(name, agg)
    return "\n".join(lines)
