"""The two demo indexes and their mappings: which fields exist and what type each one has.

Every other NLQ module asks this one, so "does field X exist and may clause Y use it" has one answer.
Types follow Elasticsearch: `text` is analysed (match, match_phrase), `keyword`/`date`/numeric are exact values
(term, range, aggregations, sort). Multi-fields appear under their dotted path, e.g. `title.keyword`.
"""
import copy
import json
from functools import lru_cache
from pathlib import Path

INDEXES = ("articles", "gutenberg")
DATA_DIR = Path(__file__).resolve().parents[2] / "data"   # the repo's data/ folder, next to the package
MAPPINGS_PATH = DATA_DIR / "mappings.json"
NUMERIC_TYPES = ("integer", "long", "short", "byte", "float", "double", "half_float", "scaled_float")

# A sort over these fields visits every document exactly once: used to page through all hits (search_after).
UNIQUE_SORT = {"articles": ("arxiv_id",), "gutenberg": ("book_id", "passage")}
DEFAULT_DATE_FORMAT = "strict_date_optional_time||epoch_millis"     # Elasticsearch's, for dates mapped without one


def load_mappings(path=None):
    """Read `{index: {"settings": ..., "mappings": ...}}` from JSON (default: the repo's data/mappings.json)."""
    path = Path(path) if path is not None else MAPPINGS_PATH
    return copy.deepcopy(_load_mappings_cached(str(path)))   # callers may edit their copy freely


@lru_cache(maxsize=8)
def _load_mappings_cached(path):
    try:
        with open(path, encoding="utf-8") as f:
            mappings = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"mappings file not found: {path} (expected data/mappings.json in the tinyllm "
                                f"checkout; pass path= to load_mappings to use another file)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"mappings file {path} is not valid JSON: {e}") from None
    if not isinstance(mappings, dict) or not all(isinstance(v, dict) and "mappings" in v for v in mappings.values()):
        raise ValueError(f"mappings file {path} must map each index name to an object with a 'mappings' key")
    return mappings


def _check_index(index, mappings):
    if index not in mappings:
        raise ValueError(f"index must be one of {sorted(mappings)}, got {index!r}")


def field_info(index, mappings=None):
    """{field_path: property dict} for every field of `index`, multi-fields included as `parent.sub`."""
    mappings = load_mappings() if mappings is None else mappings
    _check_index(index, mappings)
    out = {}

    def walk(props, prefix):
        for name, prop in props.items():
            path = prefix + name
            if "properties" in prop:                     # an object field: only its leaves are queryable
                walk(prop["properties"], path + ".")
                continue
            out[path] = prop
            for sub, subprop in prop.get("fields", {}).items():
                out[f"{path}.{sub}"] = subprop
    walk(mappings[index]["mappings"].get("properties", {}), "")
    return out


def field_types(index, mappings=None):
    """{field_path: type name}, e.g. {"title": "text", "title.keyword": "keyword", "book_id": "integer"}."""
    return {path: prop.get("type", "object") for path, prop in field_info(index, mappings).items()}


def _fields_of(index, mappings, types):
    return [f for f, t in field_types(index, mappings).items() if t in types]


def text_fields(index, mappings=None):
    """Analysed full-text fields: the targets of match, match_phrase and multi_match."""
    return _fields_of(index, mappings, ("text",))


def keyword_fields(index, mappings=None):
    """Exact-value string fields: the targets of term, terms and terms aggregations."""
    return _fields_of(index, mappings, ("keyword",))


def date_fields(index, mappings=None):
    """Date fields: range queries with date math, date_histogram, sorting by time."""
    return _fields_of(index, mappings, ("date",))


def numeric_fields(index, mappings=None):
    """Numeric fields: range, histogram and metric aggregations."""
    return _fields_of(index, mappings, NUMERIC_TYPES)


def searchable(index, field, mappings=None):
    """False for fields mapped with `"index": false` (stored but not searchable, like articles.url)."""
    return field_info(index, mappings)[field].get("index", True) is not False


def date_format(index, field, mappings=None):
    """The mapping's date format for `field` (Elasticsearch's default when none is set)."""
    return field_info(index, mappings)[field].get("format", DEFAULT_DATE_FORMAT)


def doc_id(index, doc):
    """Document id: `arxiv_id` for articles, `"<book_id>-<passage>"` for gutenberg (stable, so loads are idempotent)."""
    if index == "articles":
        return str(doc["arxiv_id"])
    if index == "gutenberg":
        return f"{doc['book_id']}-{doc['passage']}"
    raise ValueError(f"index must be one of {list(INDEXES)}, got {index!r}")
