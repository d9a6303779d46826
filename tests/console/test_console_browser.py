"""The console in a real browser against a real server: DOM, and pixels of screenshots.

Voxel values are known (tests/console/demo_repo.py: gray = 2x + y; labels in boxes), so a
slice's screenshot has known colours at known places: a wrong plane, offset, scale, axis
order or label colour shows as a wrong pixel.
"""

from __future__ import annotations

import io
import itertools
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.console.big_dag import BRANCHES, NODES
from tests.console.conftest import TOKEN, Served
from tests.console.demo_repo import BIG

pytestmark = pytest.mark.browser

SIZE = 512  # slice canvas, css px (static/slice.js SIZE)


# ------------------------------------------------------------------ helpers
def goto(page: Any, served: Served, hash_: str) -> None:
    page.goto(f"{served.url}/{hash_}")
    page.wait_for_selector("main[data-state=ready]")


def screenshot(page: Any) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.screenshot())).convert("RGB")).astype(int)


def label_color(page: Any, label: int) -> tuple[int, int, int]:
    rgb = page.evaluate(
        "async (id) => (await import('/console/colors.js')).labelColor(id)", str(label)
    )
    return tuple(rgb)


def wait_slice(page: Any, before: str | None = None) -> None:
    page.wait_for_function(
        """(before) => {
            const v = document.getElementById('slice-viewer');
            return v && v.dataset.loading === 'false' && v.dataset.rendered
                && v.dataset.rendered !== before;
        }""",
        arg=before,
    )


def rendered(page: Any) -> str:
    return page.get_attribute("#slice-viewer", "data-rendered")


class Canvas:
    """Screen positions of voxels in a slice canvas opened with x/y/z = X/Y/Z and a zoom."""

    def __init__(self, page: Any, selector: str, center_uv: tuple[int, int], zoom: float) -> None:
        box = page.locator(selector).bounding_box()
        self.left, self.top = box["x"], box["y"]
        self.cu, self.cv = center_uv
        self.zoom = zoom

    def pos(self, u: float, v: float) -> tuple[int, int]:
        """Screen pixel inside voxel (u, v) (scale-0 coordinates along the canvas axes)."""
        x = self.left + SIZE / 2 + (u - self.cu) * self.zoom
        y = self.top + SIZE / 2 + (v - self.cv) * self.zoom
        return int(x), int(y)

    def pixel(self, img: np.ndarray, u: float, v: float) -> tuple[int, int, int]:
        x, y = self.pos(u, v)
        return tuple(int(c) for c in img[y, x])


def slice_url(uuid: str, **q: Any) -> str:
    query = "&".join(
        f"{k}={v}" for k, v in {"gray": "grayscale", "labels": "segmentation", **q}.items()
    )
    return f"#/slice/{uuid}?{query}"


# -------------------------------------------------------------------- pages
def test_navigation_repos_dag_node_and_slices(page: Any, served: Served) -> None:
    goto(page, served, "")
    row = page.locator(f"tr.repo[data-root='{served.demo.root}']")
    assert row.locator("td[data-col=nodes]").inner_text() == "5"
    assert row.locator("td[data-col=instances]").inner_text() == "3"
    row.locator("a.repo-alias").click()
    page.wait_for_selector("main[data-state=ready] svg.dag")
    page.locator(f".dag-row[data-uuid='{served.demo.merge}']").click()
    page.wait_for_selector(f"#node-panel[data-uuid='{served.demo.merge}']")
    page.click("#open-instances")
    page.wait_for_selector("main[data-state=ready] #instances")
    gray = page.locator("tr.instance[data-name=grayscale]")
    assert gray.locator("td.extents").inner_text() == "0,0,0 – 63,63,63"
    assert "0–1" in gray.inner_text()  # two scales
    gray.locator("a[data-action=slice]").click()
    page.wait_for_selector("main[data-state=ready] #slice-viewer")
    wait_slice(page)
    assert page.locator("#slice-main").count() == 1


def test_dag_shows_branches_merge_tag_leaves_and_a_nodes_log(page: Any, served: Served) -> None:
    d = served.demo
    goto(page, served, f"#/repo/{d.root}")
    nodes = page.locator(".dag-node")
    assert nodes.count() == 5
    assert page.locator(".dag-node.leaf").count() == 2  # master's and proofread's leaves
    merge = page.locator(f".dag-node[data-uuid='{d.merge}']")
    assert "merge" in merge.get_attribute("class")
    assert page.locator(".dag-edge-merge").count() == 1
    lanes = {n.get_attribute("data-branch"): n.get_attribute("data-lane") for n in nodes.all()}
    assert lanes["master"] != lanes["proofread"]
    # committed nodes are filled with their branch's colour, open ones are white
    for n in nodes.all():
        fill = n.locator(".dag-dot").get_attribute("fill")
        stroke = n.locator(".dag-dot").get_attribute("stroke")
        if n.get_attribute("data-locked") == "true":
            assert fill == stroke
        else:
            assert fill == "#fff"
    assert page.locator(f".dag-row[data-uuid='{d.imported}'] .dag-tag").text_content() == "◆ v1"
    assert sorted(page.locator(".dag-branch").all_text_contents()) == ["⎇ master", "⎇ proofread"]
    assert page.get_attribute(f".dag-row[data-uuid='{d.merge}'] .dag-branch", "fill") == (
        merge.locator(".dag-dot").get_attribute("stroke")
    )
    # a click shows the node's note and log; no write action without the token
    page.locator(f".dag-node[data-uuid='{d.imported}']").click()
    page.wait_for_selector(f"#node-panel[data-uuid='{d.imported}']")
    assert page.inner_text("#node-note") == "import grayscale and labels"
    log = page.locator("#node-log li").all_text_contents()
    assert [line.split("  ", 1)[1] for line in log] == [
        "grayscale 64^3 from gray.tif",
        "labels 7, 2^40+5",
    ]
    assert page.locator("#set-note").count() == 0 and page.locator("#token").count() == 1


def test_dag_of_200_nodes_on_10_branches_has_no_overlaps(page: Any, served: Served) -> None:
    goto(page, served, f"#/repo/{served.big_root}")
    got = page.evaluate(
        """() => [...document.querySelectorAll('.dag-node')].map((g) => {
            const r = g.querySelector('.dag-dot').getBoundingClientRect();
            const row = document.querySelector(`.dag-row[data-uuid="${g.dataset.uuid}"] .dag-text`)
                .getBoundingClientRect();
            return {branch: g.dataset.branch, dot: [r.left, r.top, r.right, r.bottom],
                    text: [row.left, row.top, row.right, row.bottom]};
        })"""
    )
    assert len(got) == NODES
    assert len({n["branch"] for n in got}) == BRANCHES

    def overlap(a: list[float], b: list[float]) -> bool:
        return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

    for a, b in itertools.combinations(got, 2):
        assert not overlap(a["dot"], b["dot"]), (a, b)
        assert not overlap(a["text"], b["text"]), (a, b)
        assert not overlap(a["dot"], b["text"]), (a, b)
    # each branch keeps one lane; branches alive at the same rows get different lanes
    spans: dict[str, tuple[float, float, float]] = {}
    for n in got:
        x, y = n["dot"][0], n["dot"][1]
        lo, hi, x0 = spans.get(n["branch"], (y, y, x))
        assert x == x0, f"branch {n['branch']} changes lane"
        spans[n["branch"]] = (min(lo, y), max(hi, y), x)
    for (a, (alo, ahi, ax)), (b, (blo, bhi, bx)) in itertools.combinations(spans.items(), 2):
        if alo <= bhi and blo <= ahi:
            assert ax != bx, (a, b)
    width = page.locator("svg.dag").evaluate("(s) => Number(s.dataset.lanes)")
    assert width <= 2 * BRANCHES


def test_label_colours_are_stable(page: Any, served: Served) -> None:
    goto(page, served, "")
    # pinned: a label keeps its colour across releases (people learn their bodies' colours)
    assert label_color(page, 1) == (53, 205, 110)
    assert label_color(page, 7) == (237, 91, 104)
    assert label_color(page, BIG) == (66, 151, 214)
    assert label_color(page, 2**64 - 1) == (80, 216, 66)


# ------------------------------------------------------------- slice viewer
def test_slice_pixels_show_the_volume_beside_its_labels(page: Any, served: Served) -> None:
    goto(
        page,
        served,
        slice_url(served.demo.merge, plane="xy", x=32, y=32, z=20, zoom=8, scale=0, mode="beside"),
    )
    wait_slice(page)
    img = screenshot(page)
    gray = Canvas(page, "#slice-main", (32, 32), 8)
    labels = Canvas(page, "#slice-labels", (32, 32), 8)
    for x, y in [(0, 0), (10, 5), (40, 30), (63, 63), (45, 45)]:
        assert gray.pixel(img, x, y) == (2 * x + y,) * 3, (x, y)
    assert labels.pixel(img, 10, 10) == label_color(page, 7)
    assert labels.pixel(img, 45, 45) == label_color(page, BIG)
    assert labels.pixel(img, 45, 12) == label_color(page, 9)  # merged in from proofread
    assert labels.pixel(img, 30, 30) == (0, 0, 0)
    assert gray.pixel(img, 70, 10) == (0, 0, 0)  # outside the volume
    # the label and the voxel under the pointer
    page.mouse.move(*gray.pos(45, 45))
    assert page.get_attribute("#readout", "data-label") == str(BIG)
    assert "gray 135" in page.inner_text("#readout")
    assert page.get_attribute("#readout", "data-point") == "45,45,20"
    # a drag of 80 px (10 voxels) to the left pans: the same screen point is 10 voxels further
    x, y = gray.pos(45, 45)
    before = rendered(page)
    page.mouse.down()
    page.mouse.move(x - 40, y, steps=4)
    page.mouse.move(x - 80, y, steps=4)
    page.mouse.up()
    wait_slice(page, before)
    assert page.input_value("#pos-x") == "42"
    page.mouse.move(x, y + 1)
    assert page.get_attribute("#readout", "data-point") == "55,45,20"
    assert gray.pixel(screenshot(page), 35, 45) == (2 * 45 + 45,) * 3


def test_slice_of_an_older_version_and_other_planes(page: Any, served: Served) -> None:
    d = served.demo
    goto(page, served, slice_url(d.imported, x=32, y=32, z=20, zoom=8, scale=0, mode="beside"))
    wait_slice(page)
    labels = Canvas(page, "#slice-labels", (32, 32), 8)
    img = screenshot(page)
    assert labels.pixel(img, 45, 12) == (0, 0, 0)  # body 9 came later, on the branch
    assert labels.pixel(img, 10, 10) == label_color(page, 7)
    # xz at y = 12: columns x, rows z
    goto(
        page,
        served,
        slice_url(d.merge, plane="xz", x=32, y=12, z=32, zoom=8, scale=0, mode="beside"),
    )
    wait_slice(page)
    img = screenshot(page)
    gray = Canvas(page, "#slice-main", (32, 32), 8)
    labels = Canvas(page, "#slice-labels", (32, 32), 8)
    assert gray.pixel(img, 10, 50) == (2 * 10 + 12,) * 3
    assert labels.pixel(img, 45, 30) == label_color(page, 9)
    assert labels.pixel(img, 45, 60) == (0, 0, 0)  # z 56+ holds no label
    assert labels.pixel(img, 45, 5) == (0, 0, 0)
    # yz through the same point (x 32, y 12, z 32), centred on y 12: no box reaches x = 32
    before = rendered(page)
    page.click("#plane-yz")
    wait_slice(page, before)
    labels = Canvas(page, "#slice-labels", (12, 32), 8)
    assert labels.pixel(screenshot(page), 12, 30) == (0, 0, 0)
    # x = 45: columns y, rows z
    before = rendered(page)
    page.fill("#pos-x", "45")
    page.dispatch_event("#pos-x", "change")
    wait_slice(page, before)
    img = screenshot(page)
    gray = Canvas(page, "#slice-main", (12, 32), 8)
    assert gray.pixel(img, 10, 3) == (2 * 45 + 10,) * 3
    assert labels.pixel(img, 12, 30) == label_color(page, 9)
    assert labels.pixel(img, 42, 30) == label_color(page, BIG)


def test_scrolling_zoom_and_scale(page: Any, served: Served) -> None:
    d = served.demo
    goto(page, served, slice_url(d.merge, x=32, y=32, z=8, zoom=8, scale=0, mode="beside"))
    wait_slice(page)
    labels = Canvas(page, "#slice-labels", (32, 32), 8)
    assert labels.pixel(screenshot(page), 10, 10) == label_color(page, 7)
    page.mouse.move(*labels.pos(10, 10))
    before = rendered(page)
    page.mouse.wheel(0, -100)  # one voxel towards z = 7, where no label is
    wait_slice(page, before)
    assert page.input_value("#pos-z") == "7"
    assert labels.pixel(screenshot(page), 10, 10) == (0, 0, 0)
    # scale 1: each voxel is a 2x2x2 average (grayscale) or mode (labels) of scale 0
    before = rendered(page)
    page.select_option("#scale", "1")
    wait_slice(page, before)
    page.fill("#pos-z", "20")
    before = rendered(page)
    page.dispatch_event("#pos-z", "change")
    wait_slice(page, before)
    img = screenshot(page)
    gray = Canvas(page, "#slice-main", (32, 32), 8)
    value = gray.pixel(img, 10, 5)
    assert abs(value[0] - 25.5) <= 1 and value[0] == value[1] == value[2]
    assert labels.pixel(img, 10, 10) == label_color(page, 7)
    # zoom in around the centre: the same voxel moves away from the centre by twice as much
    before = rendered(page)
    page.click("#zoom-in")
    wait_slice(page, before)
    zoomed = Canvas(page, "#slice-main", (32, 32), 16)
    assert abs(zoomed.pixel(screenshot(page), 40, 30)[0] - 111.5) <= 1  # scale-1 voxel (20, 15)
    assert zoomed.pos(40, 30)[0] - zoomed.pos(32, 30)[0] == 2 * (
        gray.pos(40, 30)[0] - gray.pos(32, 30)[0]
    )


def test_labels_over_grayscale_blend(page: Any, served: Served) -> None:
    goto(
        page,
        served,
        slice_url(
            served.demo.merge, x=32, y=32, z=20, zoom=8, scale=0, mode="overlay", opacity=0.5
        ),
    )
    wait_slice(page)
    img = screenshot(page)
    c = Canvas(page, "#slice-main", (32, 32), 8)
    assert page.locator("#slice-labels").count() == 0
    assert c.pixel(img, 30, 30) == (90,) * 3  # label 0 is transparent: gray 2*30+30
    mix = c.pixel(img, 10, 10)
    want = [0.5 * (2 * 10 + 10) + 0.5 * v for v in label_color(page, 7)]
    assert all(abs(a - b) <= 2 for a, b in zip(mix, want, strict=True)), (mix, want)


# --------------------------------------------------------------------- 3D
def _canvas3d(page: Any) -> np.ndarray:
    box = page.locator("#view3d").bounding_box()
    img = screenshot(page)
    x, y = int(box["x"]), int(box["y"])
    return img[y + 2 : y + int(box["height"]) - 2, x + 2 : x + int(box["width"]) - 2]


def _shaded_like(img: np.ndarray, rgb: tuple[int, int, int]) -> int:
    """Pixels that are the colour ``rgb`` under some lighting (a positive multiple of it)."""
    c = np.asarray(rgb, float) / np.linalg.norm(rgb)
    v = img.reshape(-1, 3).astype(float)
    n = np.linalg.norm(v, axis=1)
    cos = (v @ c) / np.maximum(n, 1e-9)
    return int(((cos > 0.998) & (n > 60)).sum())


def test_3d_view_draws_meshes_and_planes(page: Any, served: Served) -> None:
    d = served.demo
    goto(page, served, f"#/3d/{d.merge}?gray=grayscale&labels=segmentation&bodies=7&planes=0")
    page.wait_for_selector("#view3d-root[data-state=drawn]")
    assert page.get_attribute("#view3d-root", "data-meshes") == "1"
    assert page.get_attribute("li[data-body='7'] [data-source]", "data-source") == "computed"
    img = _canvas3d(page)
    c7, c9 = label_color(page, 7), label_color(page, 9)
    assert _shaded_like(img, c7) > 1500
    assert _shaded_like(img, c9) < 50
    # another body: its colour, not the first one's
    page.fill("#bodies", "9")
    page.click("#load3d")
    page.wait_for_function("() => document.querySelector('li[data-body=\"9\"] [data-source]')")
    page.wait_for_selector("#view3d-root[data-state=drawn]")
    img = _canvas3d(page)
    assert _shaded_like(img, c9) > 1500 and _shaded_like(img, c7) < 50
    # the three planes: grayscale pixels, none of them without planes
    page.check("#show-planes")
    img = _canvas3d(page)
    grayish = (abs(img[..., 0] - img[..., 1]) < 3) & (abs(img[..., 1] - img[..., 2]) < 3)
    bright = img.sum(axis=2) > 3 * 60
    assert int((grayish & bright).sum()) > 5000
    page.uncheck("#show-planes")
    img = _canvas3d(page)
    grayish = (abs(img[..., 0] - img[..., 1]) < 3) & (abs(img[..., 1] - img[..., 2]) < 3)
    assert int((grayish & (img.sum(axis=2) > 3 * 60)).sum()) < 50


# ------------------------------------------------------------- keyvalue, diff
def test_keyvalue_browser_previews_json_text_and_binary(page: Any, served: Served) -> None:
    goto(page, served, f"#/kv/{served.demo.merge}/notes")
    assert page.locator("#keys li").all_inner_texts() == ["blob", "config.json", "readme", "review"]
    page.click("li[data-key='config.json']")
    page.wait_for_selector("#value-meta[data-kind=json]")
    assert '"owner": "console"' in page.inner_text("#value")
    page.click("li[data-key=readme]")
    page.wait_for_selector("#value-meta[data-kind=text]")
    assert "edited on master" in page.inner_text("#value")
    page.click("li[data-key=blob]")
    page.wait_for_selector("#value-meta[data-kind=binary]")
    assert page.get_attribute("#value-meta", "data-size") == "3000"
    assert page.inner_text("#value").startswith("000000  00 01 02 03")
    page.fill("#key-filter", "re")
    assert page.locator("#keys li").all_inner_texts() == ["readme", "review"]


def test_diff_view_lists_changes_per_instance(page: Any, served: Served) -> None:
    d = served.demo
    goto(page, served, f"#/diff/{d.imported}/{d.merge}")
    notes = page.locator("tr.diff-row[data-name=notes]")
    assert notes.locator("td[data-kind=added]").inner_text() == "1"
    assert notes.locator("td[data-kind=changed]").inner_text() == "1"
    assert (
        int(page.locator("tr.diff-row[data-name=segmentation] td[data-kind=changed]").inner_text())
        > 0
    )
    assert page.locator("tr.diff-row[data-name=grayscale]").count() == 0
    notes.locator("summary").first.click()
    assert "review" in notes.locator(".keys-added").inner_text()
    # the labelmap's bodies: the branch added body 9 (16 x 16 x 48 voxels), nothing else
    bodies = page.locator(".diff-bodies[data-name=segmentation]")
    assert bodies.locator(".bodies-created").get_attribute("data-count") == "1"
    assert bodies.locator(".bodies-merged").count() == 0
    bodies.locator(".bodies-created summary").click()
    created = bodies.locator(".bodies-created li[data-body='9']")
    assert created.inner_text() == "9 (12288 voxels)"


# ------------------------------------------------------------------ writes
def test_writes_appear_only_with_the_servers_token(page: Any, served: Served) -> None:
    root = served.scratch_root
    goto(page, served, f"#/repo/{root}")
    leaf = page.get_attribute(".dag-node.leaf", "data-uuid")
    page.locator(f".dag-node[data-uuid='{leaf}']").click()
    assert page.locator("#set-note").count() == 0
    page.fill("#token", "wrong")
    page.click("#unlock")
    page.wait_for_selector(".auth-status:has-text('wrong token')")
    page.fill("#token", TOKEN)
    page.click("#unlock")
    page.wait_for_selector("#writes-on")
    page.wait_for_selector("main[data-state=ready] #set-note")
    page.locator(f".dag-node[data-uuid='{leaf}']").click()
    page.fill("#note-input", "noted in the console")
    page.click("#set-note")
    page.wait_for_selector("#node-note:has-text('noted in the console')")
    assert httpx.get(f"{served.url}/api/node/{leaf}/note").json() == {
        "note": "noted in the console"
    }
    page.fill("#commit-input", "committed in the console")
    page.click("#commit")
    page.wait_for_selector("#node-state:has-text('committed')")
    assert httpx.get(f"{served.url}/api/node/{leaf}/commit").json() == {"Locked": True}
    page.fill("#branch-input", "from-console")
    page.click("#branch")
    page.wait_for_selector(".dag-node[data-branch='from-console']")
    child = page.get_attribute(".dag-node[data-branch='from-console']", "data-uuid")
    page.wait_for_selector(f"#node-panel[data-uuid='{child}']")
    # meshes stored from the 3D view (at the new open node) are read back as stored keys
    goto(page, served, f"#/3d/{child}?labels=seg&bodies=3&planes=0")
    page.wait_for_selector("#view3d-root[data-state=drawn]")
    assert page.get_attribute("li[data-body='3'] [data-source]", "data-source") == "computed"
    page.click("#store-meshes")
    page.wait_for_selector("li[data-body='3'] [data-source=stored]")
    got = httpx.get(f"{served.url}/api/node/{child}/seg_meshes/key/3.ngmesh")
    assert got.status_code == 200 and len(got.content) > 1000
