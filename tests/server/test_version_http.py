"""dvidctl's version in DVID's /api/server/info (issue #8, part 10)."""

from __future__ import annotations

import dvidctl


def test_server_info_carries_dvidctls_version(client):  # type: ignore[no-untyped-def]
    info = client.get("/api/server/info").json()
    assert info["dvidctl Version"] == dvidctl.__version__  # main: absent
    assert info["DVID Version"] == f"dvidctl {dvidctl.__version__}"  # how clients spot dvidctl
    assert all(isinstance(v, str) for v in info.values())  # DVID: every value is a string
