"""A real browser on another origin: fetch() with JSON (CORS preflight) and sendBeacon.

Every documented API is called from shops' pages, so this is their real client: headless
Chromium loads a page from a second local server, whose script POSTs a track event
with fetch (application/json: preflighted) and four conversions with
navigator.sendBeacon (a text/plain Blob: no preflight, answer unreadable; a JSON Blob:
preflighted with credentials, as beacons always are; FormData and URLSearchParams), then one
event to each keyed API the way its browser SDK sends it (a key in the x-api-key
header, in Depict's query, as Topsort's bearer token: all preflighted). Every event
must be in the database afterwards, and the page must have read each answer.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.e2e.browser_support import dump_dom, require_chromium, serve_page
from tests.e2e.harness import Gateway, count_events, create_key, create_tenant

pytestmark = pytest.mark.browser

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>shop</title></head>
<body><pre id="result">pending</pre>
<script>
const gateway = %(gateway)s;
const key = %(key)s;
async function run() {
  const out = {};
  try {
    const track = await fetch(gateway + "/api/v1/analytics/track", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({tenant_id: "acme", type: "cart_add", metadata: {from: "browser"}}),
    });
    out.track_status = track.status;
    out.track_body = await track.json();
  } catch (err) {
    out.track_error = String(err);
  }
  const keyed = [
    ["alana", "/api/v1/events", {"x-api-key": key},
     {events: [{eventType: "home-page-view", visitorId: "v-browser"}]}],
    ["depict", "/create-events?api_key=" + encodeURIComponent(key), {},
     [{tenant: "acme", market: "se", type: "page_view", deduplication_id: "d-browser"}]],
    // topsort.js and @topsort/analytics add their own X-UA header to every call.
    ["topsort", "/v2/events", {"Authorization": "Bearer " + key, "X-UA": "ts.js/2.0.0"},
     {clicks: [{id: "c-browser", occurredAt: "2026-12-03T10:00:00Z", opaqueUserId: "u-browser"}]}],
  ];
  for (const [name, path, headers, body] of keyed) {
    try {
      const answer = await fetch(gateway + path, {
        method: "POST", headers: {"Content-Type": "application/json", ...headers},
        body: JSON.stringify(body),
      });
      out[name + "_status"] = answer.status;
      out[name + "_remaining"] = answer.headers.get("x-ratelimit-remaining");
    } catch (err) {
      out[name + "_error"] = String(err);
    }
  }
  const conversion = JSON.stringify({tenant_slug: "acme-store", transaction_id: "tx-browser-1",
                                     value: 99.5, currency: "HNL"});
  out.beacon_queued = navigator.sendBeacon(gateway + "/api/v1/analytics/conversion",
                                           new Blob([conversion], {type: "text/plain"}));
  // A JSON Blob is preflighted, and beacons always carry credentials: the browser sends
  // it only if the preflight allows credentials.
  const json = JSON.stringify({tenant_slug: "acme-store", transaction_id: "tx-browser-2"});
  out.json_beacon_queued = navigator.sendBeacon(gateway + "/api/v1/analytics/conversion",
                                                new Blob([json], {type: "application/json"}));
  // Forms, as shops also send beacons: multipart (FormData) and urlencoded (URLSearchParams).
  const form = new FormData();
  form.append("tenant_slug", "acme-store");
  form.append("transaction_id", "tx-browser-3");
  form.append("value", "12.5");
  out.form_beacon_queued = navigator.sendBeacon(gateway + "/api/v1/analytics/conversion", form);
  out.params_beacon_queued = navigator.sendBeacon(gateway + "/api/v1/analytics/conversion",
      new URLSearchParams({tenant_slug: "acme-store", transaction_id: "tx-browser-4"}));
  document.getElementById("result").textContent = "RESULT " + JSON.stringify(out) + " END";
}
run();
</script></body></html>
"""


def _result(dom: str) -> dict[str, object]:
    match = re.search(r"RESULT (.*) END", dom)
    assert match, f"the page's script did not finish:\n{dom[-2000:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_cross_origin_fetch_and_beacon_are_stored(tmp_path: Path) -> None:
    chromium = require_chromium()
    database = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    create_tenant(database, "acme", "acme-store", 1)
    key = create_key(database, "acme")
    gateway = Gateway(database)
    gateway.start(tmp_path)
    try:
        page_text = _PAGE % {"gateway": json.dumps(gateway.base_url), "key": json.dumps(key)}
        with serve_page(page_text) as page:
            assert page.rsplit(":", 1)[1] != str(gateway.http_port)  # another origin
            dom = dump_dom(chromium, page, tmp_path / "profile")
        result = _result(dom)
        assert result.get("track_status") == 202, (result, gateway.log())
        assert result["beacon_queued"] is True and result["json_beacon_queued"] is True
        assert result["form_beacon_queued"] is True and result["params_beacon_queued"] is True
        # Each keyed answer was readable by the page: CORS allowed the origin (the
        # rate-limit headers are exposed to scripts too).
        assert (result.get("alana_status"), result.get("depict_status"), result.get("topsort_status")) == (
            200, 200, 204), (result, gateway.log())
        assert result["alana_remaining"] is not None and result["topsort_remaining"] is not None
        for api in ("alana", "depict", "topsort"):
            assert count_events(database, "--api", api) == 1, (api, gateway.log())
        # Beacons are fire-and-forget: wait until the four rows are committed.
        deadline = time.monotonic() + 30
        while count_events(database, "--api", "storefront") < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert count_events(database, "--api", "storefront") == 5, gateway.log()
    finally:
        gateway.stop()
