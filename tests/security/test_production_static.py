"""S16 (issue 15): in production mode gunicorn served no static files, so the viewer's
`viewer.js` was a 404 and the viewer did not work in the documented deployment. Started as
docker-compose starts it (collectstatic, then gunicorn on config.wsgi), the app now serves them."""

from __future__ import annotations

import pytest

from tests.security.production_server import ROOT, get
from tests.security.production_server import production_server as serve


@pytest.fixture
def production_server(tmp_path):
    with serve(tmp_path) as base:
        yield base


def test_gunicorn_in_production_mode_serves_the_viewers_static_files(production_server):
    status, body, kind = get(f"{production_server}/static/readers/viewer.js")
    assert status == 200 and "javascript" in kind
    assert body == (ROOT / "static" / "readers" / "viewer.js").read_bytes()
    status, _, kind = get(f"{production_server}/static/readers/viewer.css")
    assert status == 200 and "css" in kind
    assert get(f"{production_server}/static/readers/nothing.js")[0] == 404
