"""Sphinx extension: the explorers of chapters 3, 5 and 7 move on the static site.

Without a kernel the ipywidgets explorers of :mod:`helpers.widgets` are frozen. Each
explorer's rich output also carries ``text/html``: the current figure inside
``<div class="book-explorer" data-book-explorer="{kind, config, values}">``. This
extension

1. makes myst-nb prefer ``text/html`` over the widget view for the HTML builders
   (``nb_mime_priority_overrides``; Jupyter front ends with a kernel still show the live
   widget, whose view has the higher priority there);
2. replaces each such output, when the page is resolved, by plain HTML controls
   (``<input type="range">``, ``<select>``, previous/next buttons) and an ``<img>``,
   and writes one PNG per point of the bounded grid ``helpers.widgets.STATIC_GRIDS``
   to ``_images/explorers/<id>/`` (palette PNGs; only the frame shown is downloaded);
   each frame's alt text (from the pure callback) travels in a JSON block of the page;
3. adds ``explorers_static/book-explorers.js`` (about 2 KB: switches ``src`` and ``alt``
   when a control changes) and ``book-explorers.css``.

Frames are cached in ``_build/.explorer-frames/<id>/``, keyed by the explorer's kind,
settings, grid and the source of ``helpers/`` (an edit of a helper recomputes them), so
only the first build pays (about 250 frames, 0.1-0.3 s each). The static files are not
under the book's ``_static/``: Jupyter Book injects every ``.js`` there into every page.

Enable in ``_config.yml``: ``sphinx.local_extensions: {explorers: _ext}``.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import shutil
import time
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "explorers_static"
HTML_BUILDERS = ("html", "dirhtml", "singlehtml")
SPEC = re.compile(r'<div class="book-explorer" data-book-explorer="([^"]*)"')
USED = re.compile(r'_images/explorers/([0-9a-f]{12})/')
#: resolution of the frames (the live widget uses matplotlib's default 100 dpi)
DPI = 80
#: colours kept per frame (heatmaps on one diverging map; text antialiasing)
COLORS = 128


def _helpers_digest() -> str:
    h = hashlib.sha256()
    root = HERE.parent / "helpers"
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def frame_key(names: list[str], values: dict) -> str:
    """File stem of one frame, e.g. ``N2-D3-M4-wrtX-orderrow``."""
    return "-".join(f"{n}{values[n]}" for n in names)


def _png(fig) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    image = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    out = io.BytesIO()
    image.quantize(colors=COLORS, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


def _render_part(kind: str, config: dict, cache: Path, part: int, parts: int) -> dict:
    """Frames ``part, part + parts, ...`` of the grid into ``cache``; ``{key: alt}``."""
    import matplotlib

    matplotlib.use("Agg")
    from helpers import widgets

    names = list(widgets.STATIC_GRIDS[kind])
    alts = {}
    for values in widgets.static_values(kind)[part::parts]:
        view = widgets.static_view(kind, config, values)   # checked like every redraw
        key = frame_key(names, values)
        (cache / f"{key}.png").write_bytes(_png(view.fig))
        alts[key] = view.alt
    return alts


def render_frames(kind: str, config: dict, cache: Path) -> dict:
    """Every frame of an explorer in ``cache`` (computed once); ``{key: alt}``.

    Large grids are split with one helper process (``python _ext/explorers.py``) when
    the machine has two cores or more (``BOOK_EXPLORER_JOBS=1`` turns that off); if
    it fails, its half is drawn here.
    """
    import os
    import subprocess
    import sys

    from helpers import widgets

    manifest = cache / "manifest.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    cache.mkdir(parents=True, exist_ok=True)
    total = len(widgets.static_values(kind))
    jobs = int(os.environ.get("BOOK_EXPLORER_JOBS", min(2, os.cpu_count() or 1)))
    helper = None
    if jobs > 1 and total >= 40:
        root = str(HERE.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        helper = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), kind,
                                   json.dumps(config), str(cache), "1", "2"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    alts = _render_part(kind, config, cache, 0, 2 if helper else 1)
    if helper is not None:
        _, err = helper.communicate()
        part = cache / "part-1.json"
        if helper.returncode == 0 and part.exists():
            alts.update(json.loads(part.read_text()))
            part.unlink()
        else:
            logger.warning(f"explorers: helper process failed ({err[-300:]}); drawing here")
            alts.update(_render_part(kind, config, cache, 1, 2))
    names = list(widgets.STATIC_GRIDS[kind])
    alts = {frame_key(names, v): alts[frame_key(names, v)] for v in widgets.static_values(kind)}
    manifest.write_text(json.dumps(alts))
    return alts


def _nearest(value, options):
    if value in options:
        return value
    if all(isinstance(o, int) for o in options) and isinstance(value, int):
        return min(options, key=lambda o: abs(o - value))
    return options[0]


def explorer_html(spec: dict, frames_uri: str, alts: dict, uid: str) -> str:
    """The controls, the initial frame and the frames' table, as one HTML block."""
    from helpers import widgets

    grid = widgets.STATIC_GRIDS[spec["kind"]]
    names = list(grid)
    values, parts, ranges = {}, [], []
    for name, (label, control, options) in grid.items():
        opts = [o[1] if isinstance(o, tuple) else o for o in options]
        values[name] = value = _nearest(spec["values"].get(name), opts)
        ident = f"{uid}-{name}"
        if control == "choice":
            items = "".join(f'<option value="{html.escape(str(v))}"'
                            f'{" selected" if v == value else ""}>{html.escape(lab)}</option>'
                            for lab, v in options)
            parts.append(f'<label for="{ident}">{html.escape(label)}</label> '
                         f'<select id="{ident}" name="{name}">{items}</select>')
        else:
            slider = (f'<label for="{ident}">{html.escape(label)}</label> '
                      f'<input type="range" id="{ident}" name="{name}" min="{min(opts)}" '
                      f'max="{max(opts)}" step="1" value="{value}"> '
                      f'<output for="{ident}">{value}</output>')
            if control == "steps":
                slider = (f'<button type="button" data-move="-1">◀ previous</button> {slider} '
                          f'<button type="button" data-move="1">next ▶</button>')
            parts.append(slider)
            ranges.append(f"{label} from {min(opts)} to {max(opts)}")
    key = frame_key(names, values)
    data = json.dumps({"names": names, "alts": alts}).replace("</", "<\\/")
    note = ("Precomputed figures" + (f" for {', '.join(ranges)}" if ranges else "")
            + ": run the notebook (launch buttons at the top of the page) for the live "
              "explorer and its full ranges.")
    controls = "".join(f'<span class="book-explorer-control">{p}</span>' for p in parts)
    return (f'<div class="book-explorer" id="{uid}" data-kind="{spec["kind"]}">'
            f'<form class="book-explorer-controls" aria-label="explorer controls" '
            f'onsubmit="return false">{controls}</form>'
            f'<img class="book-explorer-frame" src="{frames_uri}/{key}.png" '
            f'alt="{html.escape(alts[key], quote=True)}">'
            f'<p class="book-explorer-note">{html.escape(note)}</p>'
            f'<script type="application/json" class="book-explorer-data">{data}</script></div>')


def _replace(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    if app.builder.name not in HTML_BUILDERS:
        return
    digest = None
    for node in list(doctree.findall(nodes.raw)):
        text = node.astext()
        match = SPEC.search(text) if "html" in node.get("format", "") else None
        if not match:
            continue
        spec = json.loads(html.unescape(match.group(1)))
        from helpers import widgets

        digest = digest or _helpers_digest()
        ident = hashlib.sha256(json.dumps(
            [spec["kind"], spec["config"], repr(widgets.STATIC_GRIDS[spec["kind"]]), digest,
             DPI, COLORS], sort_keys=True).encode()).hexdigest()[:12]
        cache = Path(app.outdir).parent / ".explorer-frames" / ident
        cached = (cache / "manifest.json").exists()
        start = time.perf_counter()
        alts = render_frames(spec["kind"], spec["config"], cache)
        took = "cached" if cached else f"computed in {time.perf_counter() - start:.0f} s"
        target = Path(app.outdir) / "_images" / "explorers" / ident
        if not target.exists():
            shutil.copytree(cache, target, ignore=shutil.ignore_patterns("manifest.json"))
        uri = relative_uri(app.builder.get_target_uri(docname), f"_images/explorers/{ident}")
        uid = f"book-explorer-{ident}"
        node.parent.replace(node, nodes.raw("", explorer_html(spec, uri, alts, uid),
                                            format="html"))
        logger.info(f"explorers: {docname}: {spec['kind']} explorer, {len(alts)} frames ({took})")


def _prune(app: Sphinx, exception) -> None:
    """Remove frame folders that no page refers to any more (an edit of a helper
    changes the folder names; the output folder is not emptied between builds)."""
    frames = Path(app.outdir) / "_images" / "explorers"
    if exception is not None or app.builder.name not in HTML_BUILDERS or not frames.is_dir():
        return
    used = set()
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(errors="replace")
        if "book-explorer" in text:
            used.update(m.group(1) for m in USED.finditer(text))
    for folder in frames.iterdir():
        if folder.is_dir() and folder.name not in used:
            shutil.rmtree(folder)
            logger.info(f"explorers: removed stale frames {folder.name}")


def _prefer_html(app: Sphinx, config) -> None:
    overrides = list(getattr(config, "nb_mime_priority_overrides", None) or [])
    overrides += [(b, "text/html", 5) for b in HTML_BUILDERS]
    config.nb_mime_priority_overrides = overrides


def _static_path(app: Sphinx, config) -> None:
    if str(STATIC) not in config.html_static_path:
        config.html_static_path.append(str(STATIC))


def setup(app: Sphinx) -> dict:
    app.connect("config-inited", _prefer_html)
    app.connect("config-inited", _static_path)
    app.connect("doctree-resolved", _replace)
    app.connect("build-finished", _prune)
    app.add_js_file("book-explorers.js", defer="defer")
    app.add_css_file("book-explorers.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":          # the helper process of render_frames
    import sys

    _kind, _config, _cache, _part, _parts = sys.argv[1:6]
    _alts = _render_part(_kind, json.loads(_config), Path(_cache), int(_part), int(_parts))
    (Path(_cache) / f"part-{_part}.json").write_text(json.dumps(_alts))
