"""The console on a real HTTP server: security headers on every answer, sign-in, tenant
filtering of every page and API answer, CSRF and Origin checks on actions, and no secret in any
response."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlencode

import pytest

from daemon.console.app import CSP
from daemon.console.ports import ActiveAlert
from daemon.model.audit import HistoryRecord
from daemon.model.clusters import Cluster, Placement
from daemon.model.events import Event
from tests.console.helpers import (
    ADMIN_TOKEN,
    BOB_TOKEN,
    DATA_TOKEN,
    NOBODY_TOKEN,
    NOW,
    SESSION_KEY,
    SHOP_TOKEN,
    Answer,
    Bench,
    Served,
    config,
    example_model,
    example_state,
    serve,
)

PROXY_SECRET = "proxy-secret-0123456789abcdef"
PAGES = ["/", "/topology", "/topology?tenant=shop", "/topology?tenant=shop&app=api", "/backups", "/operations"]
APIS = ["/api/overview", "/api/topology", "/api/backups", "/api/operations", "/api/whoami"]
OTHER_TENANTS_APPS = ("payments-api", "grafana", "prometheus", "etl-worker", "reports-web")


def _record(kind: str, tenants: list[str], command: str = "", user: str = "", **extra: object) -> HistoryRecord:
    return HistoryRecord(
        id=f"{1778580000000 + len(command) + len(tenants)}-{kind}",
        kind=kind,  # type: ignore[arg-type]
        started=NOW.isoformat(),
        finished=NOW.isoformat(),
        revision="0123456789abcdef0123456789abcdef01234567",
        author="Ada <ada@example.com>",
        message="Change things",
        trigger="console" if command else "poll",
        result="succeeded",
        user=user,
        command=command,
        tenants=tenants,
        changes=[f"updated Deployment/{t}/x" for t in tenants],
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def served() -> Iterator[Served]:
    bench = Bench(example_state())
    bench.trail.records += [
        _record("sync", ["shop", "payments"]),
        _record("command", ["payments"], "pause payments", "dave@example.com"),
        _record("command", ["shop"], "scale shop/web 3", "sam@example.com"),
    ]
    bench.events.emit(Event.make("sync.succeeded", "payments synced", tenant="payments"))
    bench.events.emit(Event.make("sync.succeeded", "shop synced", tenant="shop"))
    bench.alerts.append(ActiveAlert("payments", "payments-api", "errors", "firing", NOW, "critical"))
    with serve(bench, config(proxy="127.0.0.1/32", proxy_secret=PROXY_SECRET)) as s:
        yield s


def test_every_answer_carries_a_strict_csp_and_no_caching(served: Served) -> None:
    for path in [*PAGES, *APIS, "/login", "/nonexistent-tenant-page?x=1", "/static/console.js"]:
        answer = served.as_token(ADMIN_TOKEN, path)
        if answer.status == 404 and path.startswith("/nonexistent"):
            continue  # not a console route: the daemon's own 404
        assert answer.headers["content-security-policy"] == CSP, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    assert "unsafe-inline" not in CSP and "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP
    assert served.as_token(ADMIN_TOKEN, "/").headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style_and_no_foreign_origin(served: Served) -> None:
    for path in PAGES:
        html = served.as_token(ADMIN_TOKEN, path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html and " on" + "click=" not in html, path
        assert not re.search(r"""(src|href)=["']https?://""", html.replace('href="https://github.com', "")), path


def test_assets_are_cached_by_their_hash(served: Served) -> None:
    page = served.as_token(ADMIN_TOKEN, "/").text
    url = re.search(r'src="(/static/console.js\?v=[0-9a-f]+)"', page)
    assert url is not None
    fixed = served.request(url.group(1))
    assert fixed.status == 200 and "immutable" in fixed.headers["cache-control"]
    assert served.request("/static/console.js").headers["cache-control"] == "no-cache"
    etag = fixed.headers["etag"]
    assert served.request("/static/console.js", headers={"If-None-Match": etag}).status == 304


def test_nobody_is_let_in_without_a_sign_in_or_a_role(served: Served) -> None:
    assert served.request("/").status == 401
    assert served.request("/api/overview").json()["error"] == "you are not signed in"
    assert served.as_token("not-a-token-at-all-0123456789", "/api/overview").status == 401
    refused = served.as_token(NOBODY_TOKEN, "/api/overview")
    assert refused.status == 403 and "no console role" in refused.json()["error"]


def test_proxy_headers_count_only_with_the_proxys_secret(served: Served) -> None:
    who = {"X-Forwarded-User": "alice@example.com", "X-Forwarded-Groups": "platform-team"}
    assert served.request("/api/whoami", headers=who).status == 401
    wrong = served.request("/api/whoami", headers={**who, "X-Dockyard-Proxy-Secret": "x" * 30})
    assert wrong.status == 401
    right = served.request("/api/whoami", headers={**who, "X-Dockyard-Proxy-Secret": PROXY_SECRET})
    assert right.status == 200 and right.json()["platform"] is True and right.json()["via"] == "proxy"


def test_proxy_headers_from_another_address_are_ignored() -> None:
    with serve(Bench(example_state()), config(proxy="10.0.0.0/8")) as s:
        assert s.as_user("alice@example.com", "/api/whoami", groups="platform-team").status == 401


def _everything(served: Served, token: str) -> str:
    return "\n".join(served.as_token(token, p).text for p in [*PAGES[:2], "/backups", "/operations", *APIS])


def test_a_tenant_user_sees_only_their_tenant(served: Served) -> None:
    overview = served.as_token(SHOP_TOKEN, "/api/overview").json()
    assert [t["name"] for t in overview["tenants"]] == ["shop"]
    assert [e["tenant"] for e in overview["events"]] == ["shop"]
    assert overview["alerts"] == []  # payments' alert
    assert "source" not in overview and "outboxBacklog" not in overview  # platform-level facts
    assert all(w["tenants"] == [] or "payments" not in w["tenants"] for w in overview["windows"])
    operations = served.as_token(SHOP_TOKEN, "/api/operations").json()
    assert [r["command"] for r in operations["records"]] == ["scale shop/web 3", ""]
    sync = next(r for r in operations["records"] if r["kind"] == "sync")
    assert sync["tenants"] == ["shop"] and sync["changes"] == ["updated Deployment/shop/x"] and sync["hidden"] == 1
    everything = _everything(served, SHOP_TOKEN)
    for name in (*OTHER_TENANTS_APPS, "payments", "Payments", "analytics", "monitoring", "dave@example.com"):
        assert name not in everything, name
    for path in ["/topology?tenant=payments", "/backups?tenant=payments", "/topology?tenant=shop&app=nope"]:
        assert served.as_token(SHOP_TOKEN, path).status == 404
    assert served.as_token(SHOP_TOKEN, "/api/operations?tenant=payments").json()["records"] == []


def test_an_analytics_user_sees_no_shop(served: Served) -> None:
    everything = _everything(served, DATA_TOKEN)
    assert "analytics" in everything
    for name in ("shop", "orders-data", "postgres", "payments-api"):
        assert name not in everything, name


def test_the_admin_sees_every_tenant_and_the_platform(served: Served) -> None:
    overview = served.as_token(ADMIN_TOKEN, "/api/overview").json()
    assert [t["name"] for t in overview["tenants"]] == ["analytics", "monitoring", "payments", "shop"]
    assert overview["outboxBacklog"] == 3 and overview["alerts"][0]["tenant"] == "payments"
    topology = served.as_token(ADMIN_TOKEN, "/api/topology").json()
    assert {n["tenant"] for n in topology["nodes"] if n["kind"] == "app"} == {
        "analytics",
        "monitoring",
        "payments",
        "shop",
    }


def test_operations_filter_by_user_action_and_time(served: Served) -> None:
    def records(query: dict[str, str]) -> list[str]:
        answer = served.as_token(ADMIN_TOKEN, "/api/operations?" + urlencode(query)).json()
        return [r["command"] or r["kind"] for r in answer["records"]]

    assert records({"user": "sam@example.com"}) == ["scale shop/web 3"]
    assert records({"action": "pause"}) == ["pause payments"]
    assert records({"kind": "sync"}) == ["sync"]
    assert records({"since": "1h"}) == ["scale shop/web 3", "pause payments", "sync"]
    assert records({"until": "2020-01-01"}) == []
    bad = served.as_token(ADMIN_TOKEN, "/api/operations?since=yesterday-ish&kind=nope").json()
    assert len(bad["problems"]) == 2


def _sign_in(served: Served, token: str) -> dict[str, str]:
    """A browser's sign-in at /login: the session cookie, then the CSRF cookie of its first page."""
    host = f"127.0.0.1:{served.server.address[1]}"
    answer = served.request(
        "/login",
        method="POST",
        body=urlencode({"token": token}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": f"http://{host}"},
    )
    assert answer.status == 303, answer.text
    session = answer.headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in answer.headers["set-cookie"] and "SameSite=Strict" in answer.headers["set-cookie"]
    page = served.request("/", headers={"Cookie": session})
    assert page.status == 200
    csrf_cookie = page.headers["set-cookie"].split(";")[0]
    csrf = csrf_cookie.split("=", 1)[1]
    assert f'value="{csrf}"' in page.text  # the forms repeat it
    return {"Cookie": f"{session}; {csrf_cookie}", "Origin": f"http://{host}", "csrf": csrf}


def _post(served: Served, path: str, form: dict[str, str], headers: dict[str, str]) -> Answer:
    return served.request(
        path,
        method="POST",
        body=urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )


def test_actions_of_a_browser_need_the_csrf_token_and_the_consoles_origin(served: Served) -> None:
    browser = _sign_in(served, SHOP_TOKEN)
    csrf = browser.pop("csrf")
    assert _post(served, "/api/actions/pause", {"tenant": "shop"}, browser).status == 403
    wrong = _post(served, "/api/actions/pause", {"tenant": "shop", "csrf": csrf[:-2] + "xx"}, browser)
    assert wrong.status == 403 and "security token" in wrong.text
    elsewhere = {**browser, "Origin": "https://evil.example"}
    assert _post(served, "/api/actions/pause", {"tenant": "shop", "csrf": csrf}, elsewhere).status == 403
    assert served.bench.pauses.tenants == set()
    done = _post(served, "/api/actions/pause", {"tenant": "shop", "csrf": csrf}, browser)
    assert done.status == 200 and served.bench.pauses.tenants == {"shop"}


def test_a_csrf_token_of_another_person_is_refused(served: Served) -> None:
    alice = _sign_in(served, ADMIN_TOKEN)
    sam = _sign_in(served, SHOP_TOKEN)
    mixed = {"Cookie": sam["Cookie"].split(";")[0] + "; " + alice["Cookie"].split("; ")[1], "Origin": sam["Origin"]}
    assert _post(served, "/api/actions/pause", {"tenant": "shop", "csrf": alice["csrf"]}, mixed).status == 403


def test_proxy_signed_in_actions_need_csrf_and_bearer_ones_do_not(served: Served) -> None:
    who = {
        "X-Forwarded-User": "sam@example.com",
        "X-Forwarded-Groups": "shop-developers",
        "X-Dockyard-Proxy-Secret": PROXY_SECRET,
    }
    assert _post(served, "/api/actions/pause", {"tenant": "shop"}, who).status == 403
    bearer = {"Authorization": f"Bearer {SHOP_TOKEN}", "Accept": "application/json"}
    answer = _post(served, "/api/actions/pause", {"tenant": "shop"}, bearer)
    assert answer.status == 200 and answer.json()["result"] == "succeeded"


def test_a_viewer_cannot_act_and_the_refusal_is_audited(served: Served) -> None:
    bearer = {"Authorization": f"Bearer {BOB_TOKEN}", "Accept": "application/json"}
    answer = _post(served, "/api/actions/pause", {"tenant": "shop"}, bearer)
    assert answer.status == 403 and "needs operator" in answer.json()["message"]
    assert served.bench.pauses.tenants == set()
    denied = served.bench.trail.records[-1]
    assert (denied.result, denied.user, denied.command) == ("denied", "bob@example.com", "pause shop")
    assert served.bench.emitted[-1].name == "command.executed"
    sam = {"Authorization": f"Bearer {SHOP_TOKEN}", "Accept": "application/json"}
    assert _post(served, "/api/actions/pause", {"tenant": "payments"}, sam).status == 403
    assert _post(served, "/api/actions/sync", {"force": "true"}, sam).status == 403  # admins only


def test_malformed_actions_get_clear_answers(served: Served) -> None:
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Accept": "application/json"}
    cases = {
        ("scale", "tenant=shop&app=web&replicas=-1"): "replicas must be a whole number",
        ("scale", "tenant=shop&app=Web%21&replicas=2"): "is not a valid app name",
        ("restore", "tenant=shop&volume=orders-data"): "restore needs a snapshot",
        ("pause", "tenant=shop&force=true"): "only sync takes force",
    }
    for (action, body), message in cases.items():
        answer = served.request(
            f"/api/actions/{action}",
            method="POST",
            body=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **bearer},
        )
        assert answer.status == 400 and message in answer.json()["error"], (action, answer.text)
    junk = served.request(
        "/api/actions/pause", method="POST", body=b"{not json", headers={"Content-Type": "application/json", **bearer}
    )
    assert junk.status == 400 and junk.json()["error"] == "the body is not JSON"
    xml = served.request(
        "/api/actions/pause", method="POST", body=b"<a/>", headers={"Content-Type": "application/xml", **bearer}
    )
    assert xml.status == 415


def test_no_secret_reaches_the_browser(served: Served) -> None:
    secrets_ = [
        ADMIN_TOKEN,
        SHOP_TOKEN,
        BOB_TOKEN,
        DATA_TOKEN,
        PROXY_SECRET,
        SESSION_KEY.decode(),
        hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest(),
    ]
    answers = [served.as_token(ADMIN_TOKEN, p) for p in [*PAGES, *APIS, "/login"]]
    answers.append(
        served.request(
            "/login",
            method="POST",
            body=b"token=" + ADMIN_TOKEN.encode() + b"x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    )
    for answer in answers:
        seen = answer.text + "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
        for secret in secrets_:
            assert secret not in seen
    # the example's apps take their credentials from Secrets: only the names are shown
    topology = served.as_token(ADMIN_TOKEN, "/api/topology?tenant=shop").text
    assert "postgres" in topology


def test_what_tenants_and_commits_write_is_shown_as_text_never_as_markup(served: Served) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    served.bench.events.emit(Event.make("sync.failed", f"shop: {hostile}", tenant="shop"))
    served.bench.trail.records.append(_record("command", ["shop"], f"scale shop/web 3 {hostile}", "sam@example.com"))
    for path in ("/", "/operations"):
        html = served.as_token(SHOP_TOKEN, path).text
        assert hostile not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html, path


def test_tenant_health_says_when_apps_are_not_in_the_cluster(served: Served) -> None:
    served.bench.state = replace(served.bench.state, deferred={"payments": "waits for its sync window"})
    ready = {"observedGeneration": 1, "readyReplicas": 1, "updatedReplicas": 1, "replicas": 1}
    served.bench.kube.objects["Deployment"] = [
        {
            "metadata": {"name": app, "namespace": tenant, "generation": 1, "labels": {}},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": {"dockyard.dev/app": app}}}},
            "status": ready,
        }
        for tenant, app in (
            ("shop", "web"),
            ("shop", "api"),
            ("shop", "admin-web"),
            ("shop", "postgres"),
            ("monitoring", "grafana"),
        )
    ]
    tenants = {t["name"]: t for t in served.as_token(ADMIN_TOKEN, "/api/overview").json()["tenants"]}
    assert (tenants["shop"]["health"], tenants["shop"]["ready"], tenants["shop"]["desired"]) == ("ok", 4, 4)
    assert tenants["payments"]["health"] == "pending" and tenants["payments"]["notInCluster"] == 1
    assert tenants["monitoring"]["health"] == "missing" and tenants["analytics"]["health"] == "missing"


def test_the_clusters_a_daemon_drives_are_shown_to_whom_runs_there() -> None:
    model = example_model()
    shop = model.tenant("shop")
    assert shop is not None
    us = Cluster("us-east", region="us-east-1", context="us", connected=True)
    model = replace(
        model,
        platform=replace(model.platform, clusters=(*model.platform.clusters, us)),
        tenants=tuple(
            replace(shop, placement=Placement(clusters=("eu-central", "us-east"))) if t.name == "shop" else t
            for t in model.tenants
        ),
    )
    home = example_state(model)
    away = replace(home, applied_sha="", last_result="failed", failures=3, last_error="refused <b>payments</b>/x")
    bench = Bench(home, clusters={"eu-central": home, "us-east": away})
    with serve(bench, config()) as served:
        admin = served.as_token(ADMIN_TOKEN, "/api/overview").json()["clusters"]
        assert [(c["name"], c["region"], c["inSync"], c["failures"]) for c in admin] == [
            ("eu-central", "eu-central-1", True, 0),
            ("us-east", "us-east-1", False, 3),
        ]
        assert admin[1]["tenants"] == ["shop"] and admin[1]["lastError"] == "refused <b>payments</b>/x"
        page = served.as_token(ADMIN_TOKEN, "/").text
        assert "<h2>Clusters</h2>" in page and "us-east-1" in page and "<b>payments" not in page
        # shop runs on both: shop's people see both, without errors that may name other tenants.
        shops = served.as_token(SHOP_TOKEN, "/api/overview").json()["clusters"]
        assert [(c["name"], c["tenants"], c["lastError"]) for c in shops] == [
            ("eu-central", ["shop"], ""),
            ("us-east", ["shop"], ""),
        ]
        # analytics runs on the default cluster only.
        data = served.as_token(DATA_TOKEN, "/api/overview").json()["clusters"]
        assert [c["name"] for c in data] == ["eu-central"]
    # One cluster: no cluster section at all.
    with serve(Bench(home), config()) as served:
        assert served.as_token(ADMIN_TOKEN, "/api/overview").json()["clusters"] == []
        assert "<h2>Clusters</h2>" not in served.as_token(ADMIN_TOKEN, "/").text
