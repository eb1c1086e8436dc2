"""operators act, viewers read, everyone else logs in first: in the UI and the API alike."""

from __future__ import annotations

import re

from django.contrib.auth.models import Group

from portal.roles import can_view, is_operator
from portal.test import make_user


def test_the_roles_exist_after_migrating(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {"operators", "viewers"}


def test_operators_act_and_viewers_read(db):
    operator = make_user("op", role="operator")
    viewer = make_user("vi", role="viewer")
    nobody = make_user("no", role=None)
    assert (is_operator(operator), can_view(operator)) == (True, True)
    assert (is_operator(viewer), can_view(viewer)) == (False, True)
    assert (is_operator(nobody), can_view(nobody)) == (False, False)


def test_a_superuser_is_an_operator(db):
    admin = make_user("root", role=None, is_superuser=True, is_staff=True)
    assert is_operator(admin)


def test_every_page_but_login_needs_a_login(client, db):
    for url in ("/", "/netprobe/", "/sos/", "/faces/", "/accounts/password/", "/api/docs/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    assert client.get("/accounts/login/").status_code == 200


def test_a_user_without_a_role_is_refused_with_a_reason(client, db):
    client.force_login(make_user("nobody", role=None))
    response = client.get("/")
    assert response.status_code == 403
    assert b"ask an admin" in response.content


def test_a_viewer_reads_the_api_but_may_not_write(viewer_api):
    me = viewer_api.get("/api/me/")
    assert me.status_code == 200
    assert me.json()["role"] == "viewer"


def test_the_api_names_the_operator_role(operator_api):
    assert operator_api.get("/api/me/").json()["role"] == "operator"


def test_a_user_without_a_role_gets_403_from_the_api(db):
    from portal.test import api_client

    response = api_client(make_user("nobody", role=None)).get("/api/me/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_a_viewer_is_refused_every_write_operation_of_the_schema(viewer_api):
    schema = viewer_api.get("/api/schema/?format=json").json()
    writes = [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
        and path != "/api/auth/token/"
        # Public endpoints (security [{}]: no login) take their credential in the request.
        and {} not in operations[method].get("security", [])
    ]
    assert len(writes) > 20
    for method, path in writes:
        response = viewer_api.generic(method, path, "{}", content_type="application/json")
        assert response.status_code == 403, (method, path, response.content)
        assert response.json()["error"]["code"] == "permission_denied"
