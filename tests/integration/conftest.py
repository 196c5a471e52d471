# SPDX-License-Identifier: MIT
"""pytest glue for the integration tests.

- `async def test_*` functions run in a fresh asyncio event loop each, bounded by
  TEST_TIMEOUT (Debian 12 ships no pytest-asyncio); every slixmpp client a test
  created is closed afterwards.
- `server`: one yerbad per test module (tests there use fresh accounts, so they
  don't see each other's state). `fresh_server`: one per test, for tests that
  restart or kill the server. `make_server`: a factory for custom configs.
  Teardown stops each server with SIGTERM and fails if it did not exit 0 or if the
  log holds a sanitizer report.
"""
import asyncio
import inspect
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import harness  # noqa: E402
import rawxmpp  # noqa: E402
import slixclient  # noqa: E402

TEST_TIMEOUT = float(os.environ.get("YERBA_TEST_TIMEOUT", "90"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {n: pyfuncitem.funcargs[n] for n in names}

    async def runner():
        try:
            await asyncio.wait_for(pyfuncitem.obj(**kwargs), TEST_TIMEOUT)
        finally:
            await slixclient.close_all()

    asyncio.run(runner())
    return True


@pytest.fixture(autouse=True)
def _close_raw_connections():
    yield
    rawxmpp.close_all()


def _finish(server, request=None):
    if server.proc is None:
        return
    rc = server.stop()
    reports = server.sanitizer_reports()
    assert not reports, "sanitizer reports in %s:\n%s" % (server.log_path, "\n".join(reports[:20]))
    assert rc == 0, "yerbad exited %s on SIGTERM (log %s):\n%s" % (rc, server.log_path,
                                                                   server.log_tail())


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    s = harness.Server(tmp_path_factory.mktemp(request.module.__name__.replace("test_", "")))
    s.start()
    yield s
    _finish(s)


@pytest.fixture
def make_server(tmp_path):
    """make_server(**Server kwargs) -> started Server, stopped at teardown."""
    servers = []

    def factory(name="srv", start=True, **kw):
        s = harness.Server(tmp_path / name, **kw)
        servers.append(s)
        if start:
            s.start()
        return s
    yield factory
    errors = []
    for s in servers:
        try:
            _finish(s)
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def fresh_server(make_server):
    return make_server("fresh")


def pytest_report_header(config):
    return ["yerbad: %s" % harness.YERBAD, "yerbactl: %s" % harness.YERBACTL]
