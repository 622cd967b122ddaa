"""Open every page of the built book in headless Chromium and check what a reader would see.

The book must work with no network: each page is served from `_build/html` by a local HTTP server
on 127.0.0.1, and every request that would leave it is blocked and reported. Per page the test
checks that

- every formula was typeset: each `.math` element holds a MathJax container, and MathJax shows no
  error node (`mjx-merror`);
- every `<img>` loaded (complete, with a natural width above zero);
- at a phone's width (375 px) every display formula fits its column (the book's fit-math.js scales
  wide ones down) or shows that it scrolls sideways;
- every link to a local page points at a file of the build, and every `#anchor` exists there;
- the console shows no error, the page raises no exception, and no request failed or returned an
  HTTP error;
- no request went anywhere but the local server.

A full-page screenshot of each page is kept in `tests/artifacts/screenshots/<page>.png`.

The pages are read from `_toc.yml` (plus the pages Sphinx adds: the `index.html` redirect, the
general index, the search page and any domain index in the build), so a page missing from the
build fails its test. Run
`make book` first (`make test` does); a missing build or a missing Chromium fails, never skips.
"""
import base64
import functools
import http.server
import re
import shutil
import struct
import threading
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------------------------
# Which pages: every file of the table of contents, and the pages Sphinx generates.
# --------------------------------------------------------------------------------------------

def _toc_files(entry):
    """The `file:` entries of a _toc.yml node, depth first, in reading order."""
    if isinstance(entry, dict):
        if "file" in entry:
            yield entry["file"]
        for key in ("parts", "chapters", "sections"):
            for child in entry.get(key, []) or []:
                yield from _toc_files(child)
    elif isinstance(entry, list):
        for child in entry:
            yield from _toc_files(child)


def _built_pages():
    """Every HTML page of the build, outside the asset folders (empty if there is no build)."""
    if not BUILD.is_dir():
        return []
    return sorted(
        p.relative_to(BUILD).with_suffix("").as_posix()
        for p in BUILD.rglob("*.html")
        if p.relative_to(BUILD).parts[0] not in ("_static", "_sources", "_images", "_downloads")
    )


def book_pages():
    """Page names without `.html`, e.g. `book/rnn`: the toc's files, then Sphinx's own pages.

    The toc's pages come first and do not depend on the build, so a missing build or a missing
    chapter fails its test. index.html redirects to the root page; genindex and search are made
    by Sphinx and linked from every page's header. Any other page the build holds (a domain index
    such as sphinx-proof's `prf-prf`, present once a chapter uses a proof directive) is added too.
    """
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    files = [toc["root"], *_toc_files(toc)]
    pages = [str(Path(f).with_suffix("")) for f in files]
    pages += ["index", "genindex", "search"]
    pages += _built_pages()
    return list(dict.fromkeys(pages))


PAGES = book_pages()


# --------------------------------------------------------------------------------------------
# A local server and one browser per pytest session (per xdist worker).
# --------------------------------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class Site:
    """A directory served over HTTP on 127.0.0.1 by a background thread."""

    def __init__(self, root):
        self.root = Path(root)
        handler = functools.partial(_QuietHandler, directory=str(self.root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        host, port = self.server.server_address[:2]
        self.base = f"http://{host}:{port}/"
        self.netloc = f"{host}:{port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Harness:
    """Starts Chromium (and the book's server) on first use, so a missing one fails the test."""

    def __init__(self):
        self._playwright = None
        self._browser = None
        self._sites = {}

    def browser(self):
        if self._browser is None:
            if not CHROMIUM.exists():
                pytest.fail(
                    f"Chromium is missing ({CHROMIUM} not found). Install Debian's chromium with "
                    "`make browser` (that is, `apt-get install -y chromium`); do not use "
                    "`playwright install`."
                )
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
        return self._browser

    def site(self, root):
        root = Path(root)
        if root not in self._sites:
            self._sites[root] = Site(root)
        return self._sites[root]

    def close(self):
        for site in self._sites.values():
            site.close()
        if self._browser is not None:
            self._browser.close()
            self._playwright.stop()


@pytest.fixture(scope="session")
def harness():
    h = Harness()
    yield h
    h.close()


def require_build():
    index = BUILD / "index.html"
    if not index.is_file():
        pytest.fail(
            f"The book is not built: {index} does not exist. Build it with `make book` "
            "(`make test` builds it before running the tests)."
        )


# --------------------------------------------------------------------------------------------
# The checks of one page.
# --------------------------------------------------------------------------------------------

class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.refresh = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            m = re.search(r"url\s*=\s*(\S+)", attrs.get("content") or "", re.I)
            self.refresh = m.group(1).strip("'\"") if m else None


@functools.lru_cache(maxsize=None)
def _parse(path):
    parser = _Anchors()
    parser.feed(Path(path).read_text(encoding="utf8", errors="replace"))
    return parser


def _local_file(root, path):
    """The file a URL path names under root (a directory means its index.html), or None."""
    rel = unquote(path).lstrip("/")
    target = (root / rel).resolve()
    if root.resolve() not in (target, *target.parents):
        return None
    if target.is_dir():
        target = target / "index.html"
    return target if target.is_file() else None


# Runs in the page: wait until MathJax has typeset the page (if the page loads it).
_WAIT_MATHJAX = """async () => {
  if (!document.querySelector('.math')) return 'no math';
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return 'MathJax did not load';
  await MathJax.startup.promise;
  return 'typeset';
}"""

# Runs in the page: load every image eagerly and report the ones that did not load.
_IMAGES = """async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) img.loading = 'eager';
  await Promise.all(imgs.map(img => img.complete ? null :
    new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
  return imgs.filter(img => !(img.complete && img.naturalWidth > 0))
             .map(img => img.getAttribute('src'));
}"""

# Runs in the page: the math elements left untypeset, and the formulas MathJax could not read:
# a TeX error (an `mjx-merror` node) or an undefined macro, which MathJax's `noundefined`
# package would otherwise show quietly as red text (found in the MathML of each formula).
_MATH = r"""() => {
  const maths = Array.from(document.querySelectorAll('.math'));
  const untypeset = maths.filter(m => !m.querySelector('mjx-container'))
                         .map(m => m.textContent.trim().slice(0, 80));
  const errors = Array.from(document.querySelectorAll('mjx-merror'))
    .map(e => 'TeX error: ' + (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
  if (window.MathJax && MathJax.startup && MathJax.startup.document && MathJax.startup.toMML) {
    for (const item of MathJax.startup.document.math) {
      const mml = MathJax.startup.toMML(item.root);
      for (const m of mml.match(/<mtext mathcolor="red">\\[^<]*<\/mtext>/g) || [])
        errors.push('undefined macro ' + m.replace(/<[^>]*>/g, '') + ' in ' + item.math.slice(0, 80));
    }
  }
  return {count: maths.length, untypeset, errors};
}"""

# Runs in the page: the code cells (inputs) wider than their box, which a reader would have to
# scroll sideways to read; each reported by its longest line.
_WIDE_CODE = """() => Array.from(document.querySelectorAll('div.cell_input pre'))
  .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
  .map(pre => pre.textContent.split('\\n').reduce((a, b) => b.length > a.length ? b : a, ''))"""

# Runs in the page: the display formulas that overflow their column or run into their equation
# number, each named by its label (or number) with the overlap in pixels.
_WIDE_MATH = """() => Array.from(document.querySelectorAll('div.math')).flatMap(d => {
  const m = d.querySelector('mjx-container mjx-math');
  if (!m) return [];
  const eqno = d.querySelector('.eqno');
  const e = eqno ? eqno.getBoundingClientRect() : null;
  const right = d.getBoundingClientRect().right;
  const limit = e && e.width ? Math.min(right, e.left) : right;
  const over = m.getBoundingClientRect().right - limit;
  const name = d.id || (eqno ? eqno.textContent.replace('#', '').trim() : 'an unnumbered formula');
  return over > 1 ? [[name, Math.round(over)]] : [];
})"""

# Runs in the page at a phone's width: the display formulas still wider than their column (after the
# book's fit-math.js scaled them down) that do not show the sideways-scroll hint.
_PHONE_MATH = """async () => {
  await new Promise(r => setTimeout(r, 400));  // fit-math.js refits after a resize
  return Array.from(document.querySelectorAll('div.math')).filter(d => {
    const box = d.querySelector('mjx-container') || d;  // the element that scrolls
    return box.scrollWidth > box.clientWidth + 1 && !box.classList.contains('math-scrolls');
  }).map(d => d.id || d.textContent.trim().slice(0, 60));
}"""
PHONE = {"width": 375, "height": 800}

_LINKS = """() => Array.from(document.querySelectorAll('a[href], area[href]'))
  .map(a => [a.getAttribute('href'), a.href])"""

_DOM_IDS = """() => Array.from(document.querySelectorAll('[id], a[name]'))
  .map(e => e.id || e.getAttribute('name'))"""


def _full_page_png(context, tab, path):
    """Save a full-page PNG. Chromium's own capture with optimizeForSpeed (lighter compression)
    is about twice as fast as Playwright's on the book's long pages; Playwright's is the fallback.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        cdp = context.new_cdp_session(tab)
        size = cdp.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = cdp.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "optimizeForSpeed": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
        })
        path.write_bytes(base64.b64decode(shot["data"]))
    except Exception:  # an older Chromium without these options: the portable way
        tab.screenshot(path=str(path), full_page=True)


def check_page(harness, root, page, screenshot=None):
    """Open `<page>.html` of the site in `root`; return (problems, facts) for the page.

    `problems` lists every failed check in words; `facts` counts what was checked.
    """
    root = Path(root)
    site = harness.site(root)
    path = root / f"{page}.html"
    problems = []
    if not path.is_file():
        return [f"{page}.html is missing from the build ({path})"], {}

    blocked, failed, http_errors, console, page_errors, sockets = [], [], [], [], [], []

    def route(r):
        parts = urlsplit(r.request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != site.netloc:
            blocked.append(r.request.url)
            r.abort("blockedbyclient")
        else:
            r.continue_()

    context = harness.browser().new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", route)
    try:
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.on("console", lambda m: m.type == "error" and console.append(
            f"{m.text} (at {m.location.get('url', '?')}:{m.location.get('lineNumber', '?')})"))
        tab.on("pageerror", lambda e: page_errors.append(str(e)))
        tab.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
        tab.on("response", lambda r: r.status >= 400 and http_errors.append(f"{r.url} -> HTTP {r.status}"))
        tab.on("websocket", lambda w: sockets.append(w.url))

        url = urljoin(site.base, f"{page}.html")
        tab.goto(url, wait_until="load")
        refresh = _parse(path).refresh
        if refresh:  # a redirect page (index.html): follow it, check where it leads
            target = urljoin(url, refresh)
            if _local_file(root, urlsplit(target).path) is None:
                problems.append(f"redirect to {refresh}, which is not in the build")
            tab.wait_for_url(target)
            tab.wait_for_load_state("load")
            url = target
        mathjax = tab.evaluate(_WAIT_MATHJAX)
        if mathjax == "MathJax did not load":
            problems.append("the page has math but MathJax never started")
        bad_images = tab.evaluate(_IMAGES)
        tab.wait_for_load_state("networkidle")
        math = tab.evaluate(_MATH)
        links = tab.evaluate(_LINKS)
        wide_code = tab.evaluate(_WIDE_CODE)
        wide_math = tab.evaluate(_WIDE_MATH)
        dom_ids = set(tab.evaluate(_DOM_IDS))
        n_images = tab.evaluate("() => document.images.length")
        if screenshot is not None:
            _full_page_png(context, tab, screenshot)
        tab.set_viewport_size(PHONE)
        phone_math = tab.evaluate(_PHONE_MATH) if math["count"] else []
    finally:
        context.close()

    for src in bad_images:
        problems.append(f"image did not load: {src}")
    for text in math["untypeset"]:
        problems.append(f"formula not typeset by MathJax: {text!r}")
    for text in math["errors"]:
        problems.append(f"MathJax error in a formula: {text!r}")

    for name, over in wide_math:
        problems.append(f"formula wider than its column or over its number: {name} (by {over} px)")
    for name in phone_math:
        problems.append(f"formula wider than a phone's screen ({PHONE['width']} px) with no hint that it "
                        f"scrolls: {name!r}")
    for line in wide_code:
        problems.append(f"code cell wider than the page, cut off at the right: {line.strip()[:100]!r}")

    here = urlsplit(url)
    n_links = 0
    for raw, absolute in links:
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https") or parts.netloc != site.netloc:
            continue  # mailto:, javascript:, or a page elsewhere (a link, not a request)
        n_links += 1
        target = _local_file(root, parts.path)
        if target is None:
            problems.append(f"broken link {raw!r}: {unquote(parts.path)} is not in the build")
            continue
        frag = unquote(parts.fragment)
        if not frag or target.suffix != ".html":
            continue
        ids = set(_parse(target).ids)
        if parts.path == here.path:
            ids |= dom_ids
        if frag not in ids:
            problems.append(f"broken anchor {raw!r}: no id {frag!r} in {target.relative_to(root)}")

    problems += [f"request left 127.0.0.1 (blocked): {u}" for u in blocked]
    problems += [f"websocket opened: {u}" for u in sockets]
    problems += [f"request failed: {f}" for f in failed
                 if not any(f.startswith(b) for b in blocked)]
    problems += [f"HTTP error: {e}" for e in http_errors]
    problems += [f"console error: {c}" for c in console]
    problems += [f"uncaught exception: {e}" for e in page_errors]
    facts = {"formulas": math["count"], "images": n_images, "local links": n_links}
    return list(dict.fromkeys(problems)), facts


def _report(page, problems):
    lines = "\n".join(f"  - {p}" for p in problems)
    return f"{page}.html has {len(problems)} problem(s):\n{lines}"


# --------------------------------------------------------------------------------------------
# The tests.
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_page(harness, page):
    """One page of the book renders offline: math typeset, images loaded, links resolve, no errors."""
    require_build()
    problems, _ = check_page(harness, BUILD, page, screenshot=SCREENSHOTS / f"{page}.png")
    assert not problems, _report(page, problems)


def test_every_built_page_is_checked():
    """No HTML page of the build escapes the browser test (say, one built after collection)."""
    require_build()
    unchecked = sorted(set(_built_pages()) - set(PAGES))
    assert not unchecked, f"pages built but not in the browser test: {unchecked}"


def _png(width, height):
    """A tiny valid grey PNG, written by hand so the self-test needs no image library."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


_MINI_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>
<script>window.MathJax = {{options: {{processHtmlClass: 'math'}}}}</script>
<script defer src="mathjax/tex-chtml.js"></script>{head}</head>
<body><h1 id="top">{title}</h1>
<p>Inline <span class="math notranslate nohighlight">\\(h_t = \\tanh(x_t W_{{xh}})\\)</span>.</p>
<img src="ok.png" alt="fine"> <a href="good.html#top">self</a> <a href="other.html#there">other</a>
{body}</body></html>"""


def test_checker_catches_breakage(harness, tmp_path):
    """The checks themselves work: a clean page passes, and each kind of breakage is reported.

    A two-page site is built in a temporary folder with the book's offline MathJax; `bad.html`
    carries one instance of every problem the book's pages are checked for.
    """
    import importlib.util

    mathjax = Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent / "static" / "mathjax"
    shutil.copytree(mathjax, tmp_path / "mathjax")
    (tmp_path / "ok.png").write_bytes(_png(4, 3))
    (tmp_path / "other.html").write_text('<html><body><p id="there">x</p></body></html>')
    (tmp_path / "good.html").write_text(_MINI_PAGE.format(title="good", head="", body=""))
    bad_body = "\n".join([
        '<img src="missing.png" alt="gone">',
        '<a href="nowhere.html">dead link</a>',
        '<a href="other.html#not-there">dead anchor</a>',
        r'<span class="math notranslate nohighlight">\(\notamacro{x}\)</span>',
        r'<div class="math notranslate nohighlight">\[x^{1}_{2}^{3}\]</div>',
        '<script>console.error("deliberate console error")</script>',
        '<div class="math" id="equation-too-wide" style="width: 12em">'
        '<span class="eqno" style="float: right">(9)</span>'
        r'\[a_1 + a_2 + a_3 + a_4 + a_5 + a_6 + a_7 + a_8 + a_9\]</div>',
        '<div class="cell_input"><pre style="width: 20em; overflow: auto">'
        'wide = "' + "x" * 200 + '"</pre></div>',
        '<script>setTimeout(() => { throw new Error("deliberate exception") }, 0)</script>',
    ])
    bad_head = '<link rel="stylesheet" href="https://fonts.example.com/font.css">'
    (tmp_path / "bad.html").write_text(_MINI_PAGE.format(title="bad", head=bad_head, body=bad_body))

    problems, facts = check_page(harness, tmp_path, "good")
    assert not problems, _report("good", problems)
    assert facts == {"formulas": 1, "images": 1, "local links": 2}

    problems, _ = check_page(harness, tmp_path, "bad")
    text = "\n".join(problems)
    expected = {
        "image": "image did not load: missing.png",
        "link": "broken link 'nowhere.html'",
        "anchor": "broken anchor 'other.html#not-there'",
        "macro": r"MathJax error in a formula: 'undefined macro \\notamacro",
        "tex": "MathJax error in a formula: 'TeX error: Double exponent",
        "network": "request left 127.0.0.1 (blocked): https://fonts.example.com/font.css",
        "404": "HTTP error:",
        "console": "console error: deliberate console error",
        "exception": "uncaught exception: deliberate exception",
        "wide math": "formula wider than its column or over its number: equation-too-wide (by ",
        "wide code": "code cell wider than the page, cut off at the right: 'wide = ",
    }
    missed = [kind for kind, needle in expected.items() if needle not in text]
    assert not missed, f"the checker missed {missed}; it reported:\n{text}"

    problems, _ = check_page(harness, tmp_path, "absent")
    assert problems and "missing from the build" in problems[0]
