"""The one HTML page `tinyllm serve` answers at `/`: type a question, see the query and the results.

Self-contained on purpose (inline CSS and JS, no CDN): the service runs on machines without internet, and a page
that loads nothing from elsewhere cannot leak questions to a third party. It only calls POST /{index}/nlq.
"""
import html
import json

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tinyllm NLQ</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.3rem; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; }
  #question { flex: 1 1 30rem; padding: .45rem; font-size: 1rem; }
  select, button { padding: .45rem .8rem; font-size: 1rem; }
  pre { background: #f4f4f4; padding: .7rem; overflow-x: auto; font-size: 13px; }
  .error { color: #a00; font-weight: 600; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  td, th { border-bottom: 1px solid #ddd; padding: .25rem .4rem; text-align: left; vertical-align: top; }
  .muted { color: #777; }
</style>
</head>
<body>
<h1>Ask the indexes a question</h1>
<p class="muted">The question becomes an Elasticsearch query (checked by the safety gate, read-only), which then
runs on the index. Examples: <em>how many papers are in cs.CL?</em>, <em>passages of Moby-Dick about the whale</em>.
API docs: <a href="docs">/docs</a>.</p>
<form id="ask">
  <select id="index" aria-label="index">__OPTIONS__</select>
  <input id="question" maxlength="1000" placeholder="your question" aria-label="question" required>
  <button type="submit">Ask</button>
</form>
<p id="status" class="muted"></p>
<h2>Query</h2><pre id="query" class="muted">(none yet)</pre>
<h2>Results</h2><div id="results" class="muted">(none yet)</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const KEY_FIELDS = __KEY_FIELDS__;      // per index, the columns worth a glance (the JSON answer has everything)

function cell(value) {                 // one value as short text: lists joined, long text cut
  let text = Array.isArray(value) ? value.join(", ") : String(value);
  text = text.replace(/\\s+/g, " ");
  return text.length > 200 ? text.slice(0, 197) + "..." : text;
}

function table(rows, columns) {        // rows of objects -> an HTML table built with DOM calls (no innerHTML)
  const t = document.createElement("table");
  const head = t.insertRow();
  columns.forEach((c) => { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); });
  rows.forEach((r) => { const tr = t.insertRow(); columns.forEach((c) => { tr.insertCell().textContent =
    r[c] === undefined ? "" : cell(r[c]); }); });
  return t;
}

function showAggs(box, aggs, depth) {  // buckets as tables, metric values as lines, nested aggregations indented
  for (const [name, agg] of Object.entries(aggs)) {
    const title = document.createElement("p");
    title.style.marginLeft = depth + "rem";
    box.appendChild(title);
    if (agg.buckets) {
      const buckets = Array.isArray(agg.buckets) ? agg.buckets
        : Object.entries(agg.buckets).map(([k, b]) => Object.assign({key: k}, b));
      title.textContent = name + ": " + buckets.length + " bucket(s)";
      box.appendChild(table(buckets.map((b) => ({key: b.key_as_string ?? b.key, count: b.doc_count})),
                            ["key", "count"]));
    } else if ("value" in agg) {
      title.textContent = name + ": " + (agg.value_as_string ?? agg.value);
    } else {
      title.textContent = name + ": " + JSON.stringify(agg);
    }
  }
}

$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const index = $("index").value, question = $("question").value;
  $("status").textContent = "asking...";
  $("status").className = "muted";
  let reply, data;
  try {
    reply = await fetch(encodeURIComponent(index) + "/nlq", {method: "POST",
      headers: {"content-type": "application/json"}, body: JSON.stringify({question})});
    data = await reply.json();
  } catch (err) {
    $("status").textContent = "request failed: " + err;
    $("status").className = "error";
    return;
  }
  if (!reply.ok) {
    $("status").textContent = reply.status + " " + data.error.code + ": " + data.error.message;
    $("status").className = "error";
    $("query").textContent = "(none)";
    $("results").replaceChildren();
    return;
  }
  const total = data.result.total;
  $("status").textContent = total.value + (total.relation === "gte" ? "+" : "") + " matching document(s), "
    + data.result.took_ms + " ms (translator: " + data.translator + ")";
  $("query").textContent = JSON.stringify(data.query, null, 2);
  $("query").className = "";
  const box = $("results");
  box.replaceChildren();
  box.className = "";
  const hits = data.result.hits.map((h) => Object.assign({_id: h._id}, h._source));
  if (hits.length) {
    const present = (KEY_FIELDS[index] || []).filter((c) => hits.some((h) => c in h));
    box.appendChild(table(hits, present.length ? present : Object.keys(hits[0])));
  }
  if (data.result.aggregations) showAggs(box, data.result.aggregations, 0);
  if (!hits.length && !data.result.aggregations) box.textContent = "(no hits)";
});
</script>
</body>
</html>
"""


def render(indexes, key_fields):
    """The page with one <option> per allowed index and `key_fields` ({index: [field, ...]}) as hit columns."""
    options = "".join(f'<option value="{html.escape(i)}">{html.escape(i)}</option>' for i in indexes)
    columns = json.dumps({i: list(key_fields.get(i, ())) for i in indexes}).replace("<", "\\u003c")
    return _PAGE.replace("__OPTIONS__", options).replace("__KEY_FIELDS__", columns)

