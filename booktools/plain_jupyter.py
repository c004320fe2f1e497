"""Plain-Jupyter rendering of the chapters: notebooks that read like the site in Colab.

Colab, nbviewer and a plain JupyterLab render CommonMark, not MyST. This module
rewrites every markdown cell of a chapter into CommonMark + HTML that they render,
with the site's numbers and links:

============================  ===============================================
MyST                           plain Jupyter
============================  ===============================================
``(label)=``                   ``<a id="label"></a>`` (anchors for links)
``{ref}`label```               ``[Section title](SITE/chapters/page.html#id)``
``{numref}`` / ``{eq}``        ``[Figure 5.1](...)`` / ``[(5.3)](...)``
``$$ ... $$ (label)``          ``$$ ... \\tag{5.3} $$`` (the site's number)
``{cite:t}`` / ``{cite:p}``    ``[Author (year)](SITE/reference/bibliography.html#id)``
admonitions                    block quotes headed by their title
``{exercise}``                 block quote headed **Exercise 5.1** (as numbered on the site)
``{solution}``                 ``<details><summary>Solution to Exercise 5.1</summary>``
``{solution-start}``/``-end``  a heading line; the code cells between are collapsed
``{glue:text}`key:fmt```       the glued value, formatted (from the executed notebook)
============================  ===============================================

It PARSES MyST (no regular expressions over text): each markdown cell goes through
myst-parser's own markdown-it parser (the book's ``myst_enable_extensions``), and the
syntax tree is written back as CommonMark by :class:`Writer`; directive bodies are parsed
recursively, their options by myst-parser's ``parse_directive_text``. Numbers, anchors
and titles come from the Sphinx build environment of the site
(``_build/.doctrees/environment.pickle``: ``std`` labels, ``toc_fignumbers`` for
figures, equations and exercises, sphinxcontrib-bibtex's citations), glued values from
the executed notebooks (``_build/jupyter_execute/``), so everything is as on the site.

Site URL rule: ``html.baseurl`` of ``_config.yml`` if set, else GitHub Pages of
``repository.url``: ``https://github.com/OWNER/REPO`` -> ``https://OWNER.github.io/REPO/``.

Run after ``jupyter-book build .``::

    python -m booktools.plain_jupyter            # -> _build/jupyter/chapters/*.ipynb
    python -m booktools.plain_jupyter --site _build/html --colab-branch colab

``--site`` copies the rendering over the site's ``_sources/chapters/*.ipynb`` (what its
download button serves) and into ``_build/html/jupyter/``; ``--colab-branch colab``
points the site's Colab buttons at branch ``colab``, where the maintainer publishes
``_build/jupyter/`` (same paths as ``chapters/``; the setup cell installs the helpers
from the default branch). Student copies:
:func:`render_notebook` with ``solutions=False`` drops solutions (and the cells
between ``solution-start``/``solution-end``).
"""

from __future__ import annotations

import argparse
import ast
import copy
import html
import json
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SiteIndex", "Writer", "render_markdown", "render_notebook", "plain_notebook",
           "retarget_colab", "site_url",
           "load_index", "glue_values", "main"]

ROOT = Path(__file__).resolve().parent.parent
ADMONITIONS = {"note", "tip", "hint", "important", "warning", "caution", "attention",
               "danger", "error", "seealso", "admonition", "margin", "sidebar", "topic"}


# ------------------------------------------------------------------ site data

def site_url(config: dict) -> str:
    """The website's base URL (ends with ``/``); see the module docstring for the rule."""
    base = (config.get("html") or {}).get("baseurl")
    if base:
        return base.rstrip("/") + "/"
    url = config["repository"]["url"].rstrip("/")
    prefix = "https://github.com/"
    if not url.startswith(prefix) or url[len(prefix):].count("/") != 1:
        raise ValueError(f"site_url: repository.url={url!r}; expected {prefix}OWNER/REPO "
                         "or an html.baseurl in _config.yml")
    owner, repo = url[len(prefix):].split("/")
    return f"https://{owner.lower()}.github.io/{repo}/"


@dataclass
class SiteIndex:
    """What the converter needs to know of the built site.

    ``labels``: label -> (docname, anchor, title); ``numbers``: label -> number string as
    on the site (``"5.1"``) for figures, tables, exercises and equations;
    ``citations``: bib key -> (docname, anchor, author text, year).
    """

    base: str = "https://example.org/"
    labels: dict = field(default_factory=dict)
    numbers: dict = field(default_factory=dict)
    citations: dict = field(default_factory=dict)
    #: docname -> section numbers in document order (``["5", "5.1", ...]``, "" unnumbered)
    sections: dict = field(default_factory=dict)

    def url(self, docname: str, anchor: str = "") -> str:
        return f"{self.base}{docname}.html" + (f"#{anchor}" if anchor else "")


def _authors(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [" ".join(p.last_names) or " ".join(p.first_names) for p in people]
    if not last:
        return entry.fields.get("title", "?")
    if len(last) == 1:
        return last[0]
    if len(last) == 2:
        return f"{last[0]} and {last[1]}"
    return f"{last[0]} et al."


def load_index(build: Path = ROOT / "_build", config: Path = ROOT / "_config.yml") -> SiteIndex:
    """Read labels, numbers and citations from the Sphinx environment of a site build."""
    import yaml

    cfg = yaml.safe_load(Path(config).read_text())
    pickled = Path(build) / ".doctrees" / "environment.pickle"
    if not pickled.exists():
        raise FileNotFoundError(f"{pickled}: build the site first (make book)")
    with open(pickled, "rb") as f:
        env = pickle.load(f)
    index = SiteIndex(base=site_url(cfg))
    std = env.domaindata["std"]
    for label, (doc, anchor, title) in std["labels"].items():
        index.labels[label] = (doc, anchor, title)
    for label, (doc, anchor) in std["anonlabels"].items():
        index.labels.setdefault(label, (doc, anchor, ""))
    from docutils.nodes import make_id

    numbers = {(doc, anchor): ".".join(map(str, num))
               for doc, kinds in env.toc_fignumbers.items()
               for ids in kinds.values() for anchor, num in ids.items()}
    # equations: the math domain knows label -> page; the page's numbering, the number
    for label, (doc, _) in env.domaindata["math"]["objects"].items():
        anchor = make_id(f"equation-{label}")
        index.labels.setdefault(label, (doc, anchor, ""))
        if (doc, anchor) in numbers:
            index.numbers[label] = numbers[doc, anchor]
    # sphinx-exercise keeps its own registry: label -> {docname, node}
    for label, info in (getattr(env, "sphinx_exercise_registry", None) or {}).items():
        node = info.get("node")
        anchor = node.get("ids", [label])[0] if node is not None else label
        index.labels.setdefault(label, (info.get("docname"), anchor, ""))
    for label, (doc, anchor, _) in index.labels.items():
        if (doc, anchor) in numbers:
            index.numbers.setdefault(label, numbers[doc, anchor])
    # section numbers of each page, in the order of its headings (from its doctree)
    from docutils import nodes

    for doc, secnumbers in env.toc_secnumbers.items():
        doctree = Path(build) / ".doctrees" / f"{doc}.doctree"
        if not doctree.exists():
            continue
        with open(doctree, "rb") as f:
            tree = pickle.load(f)
        numbers_here = []
        # the page's own headings: sections nested only in sections (sphinx-exercise
        # wraps exercise and solution bodies in sections of their own: not headings)
        own = [sec for sec in tree.findall(nodes.section)
               if all(isinstance(a, (nodes.section, nodes.document)) for a in _ancestors(sec))]
        for k, section in enumerate(own):
            key = "" if k == 0 else "#" + section["ids"][0]
            numbers_here.append(".".join(map(str, secnumbers.get(key, ()))))
        index.sections[doc] = numbers_here
    for c in env.domaindata.get("cite", {}).get("citations", []):
        index.citations[c.key] = (c.bibliography_key.docname, c.citation_id, _authors(c.entry),
                                  c.entry.fields.get("year", "n.d."))
    return index


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def glue_values(executed: Path) -> dict:
    """``{key: value}`` of every ``helpers.glue`` in an executed notebook.

    A site build leaves them in ``NAME.glue.json`` beside the executed notebook (myst-nb
    moves them there); a notebook executed elsewhere keeps them as outputs. myst-nb
    stores a glued value as a ``display_data`` output whose
    ``metadata.scrapbook.name`` is the key; its ``text/plain`` (under
    ``metadata.scrapbook.mime_prefix`` when glued with ``display=False``) is the
    ``repr`` of the value, read back with ``ast.literal_eval`` (as myst-nb's ``{glue:text}`` does).
    """
    import json

    import nbformat

    values = {}
    # myst-nb moves display=False glue outputs out of the executed notebook it writes and
    # into a sidecar file, NAME.glue.json: {key: output}, mime prefix already stripped
    sidecar = Path(executed).with_suffix(".glue.json")
    if sidecar.exists():
        for key, out in json.loads(sidecar.read_text()).items():
            text = out.get("data", {}).get("text/plain", "")
            try:
                values[key] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                values[key] = text.strip("'\"")
    for cell in nbformat.read(executed, as_version=4).cells:
        for out in cell.get("outputs", []):
            scrapbook = out.get("metadata", {}).get("scrapbook", {})
            key = scrapbook.get("name")
            if key is None:
                continue
            # display=False (helpers.glue) prefixes the mime types, e.g.
            # "application/papermill.record/text/plain"
            data = out.get("data", {})
            text = data.get(scrapbook.get("mime_prefix", "") + "text/plain",
                            data.get("text/plain", ""))
            try:
                values[key] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                values[key] = text.strip("'\"")
    return values


# --------------------------------------------------------------- the writer

def _parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    exts = {"amsmath", "colon_fence", "deflist", "dollarmath", "html_image", "substitution"}
    return create_md_parser(MdParserConfig(enable_extensions=exts), RendererHTML)


class _AnyDirective:
    """Stand-in directive class for ``parse_directive_text``: one argument, any options."""

    required_arguments = 0
    optional_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"label": str, "class": str, "name": str}  # truthy: options parsed as YAML


_ESCAPE = set("\\`*_[]<$|")


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in _ESCAPE else ch for ch in text)


class Writer:
    """Writes a MyST syntax tree (markdown-it-py) back as CommonMark for plain Jupyter.

    Parameters
    ----------
    index : SiteIndex
        Labels, numbers and citations of the built site.
    docname : str
        The page being converted, e.g. ``chapters/05_linear_layer``.
    glue : dict
        Glued values of the chapter (:func:`glue_values`).
    solutions : bool
        False drops ``{solution}`` blocks (student copies).
    """

    def __init__(self, index: SiteIndex, docname: str, glue: dict | None = None,
                 solutions: bool = True):
        self.index, self.docname, self.glue = index, docname, glue or {}
        self.solutions = solutions
        self.md = _parser()
        self.problems: list[str] = []
        self.footnotes: list[str] = []
        #: footnote label -> number, in order of first appearance in the notebook (as Sphinx)
        self.footnote_numbers: dict[str, int] = {}
        #: section numbers of the page, used by its top-level headings in order
        self.section_numbers = list(index.sections.get(docname, []))
        self.headings = 0

    # ---- entry points
    def markdown(self, source: str) -> str:
        from markdown_it.tree import SyntaxTreeNode

        self.footnotes = []
        tree = SyntaxTreeNode(self.md.parse(source))
        body = self._blocks(tree.children, top=True)
        if self.footnotes:
            body += "\n\n---\n\n" + "\n\n".join(self.footnotes)
        return body.strip() + "\n" if body.strip() else ""

    # ---- blocks
    def _blocks(self, children, top: bool = False) -> str:
        out = [self._heading(c) if top and c.type == "heading" else self._block(c)
               for c in children]
        return "\n\n".join(b for b in out if b is not None and b != "")

    def _block(self, node) -> str | None:
        t = node.type
        if t == "paragraph":
            return self._inline(node.children[0]) if node.children else ""
        if t == "heading":
            return f"{node.markup} {self._inline(node.children[0])}"
        if t == "myst_target":
            return f'<a id="{html.escape(self._anchor_of(node.content))}"></a>'
        if t in ("myst_line_comment", "front_matter"):
            return None
        if t == "myst_block_break":
            return "---"
        if t == "hr":
            return "---"
        if t == "blockquote":
            return _quote(self._blocks(node.children))
        if t in ("bullet_list", "ordered_list"):
            return self._list(node)
        if t == "code_block":
            return "```\n" + node.content.rstrip("\n") + "\n```"
        if t in ("fence", "colon_fence"):
            info = node.info.strip()
            if info.startswith("{"):
                return self._directive(node)
            fence = "````" if "```" in node.content else "```"
            return f"{fence}{info}\n{node.content.rstrip(chr(10))}\n{fence}"
        if t == "math_block":
            return f"$$\n{node.content.strip()}\n$$"
        if t == "math_block_label":
            return self._equation(node.content, node.info)
        if t == "amsmath":
            return f"$$\n{node.content.strip()}\n$$"
        if t == "html_block":
            return node.content.rstrip("\n")
        if t == "table":
            return self._table(node)
        if t == "dl":
            return self._deflist(node)
        if t == "footnote_reference":            # a definition, left where it was written
            label = node.meta.get("label", "")
            n = self._footnote(label)
            return (f'<a id="fn-{html.escape(label)}"></a><sup>{n}</sup> '
                    + self._blocks(node.children))
        if t == "footnote_block":
            for fn in node.children:
                label = fn.meta.get("label", "")
                self.footnotes.append(f'<a id="fn-{html.escape(label)}"></a>**[{label}]** '
                                      + self._blocks(fn.children))
            return None
        self.problems.append(f"{self.docname}: unhandled block {t}")
        return None

    def _heading(self, node) -> str:
        """A cell's own heading, with the site's section number ("5.1 Title")."""
        k, self.headings = self.headings, self.headings + 1
        number = self.section_numbers[k] if k < len(self.section_numbers) else ""
        text = self._inline(node.children[0])
        if number:
            text = f"{number}{'.' if '.' not in number else ''} {text}"
        return f"{node.markup} {text}"

    def _list(self, node) -> str:
        items, start = [], int(node.attrs.get("start", 1)) if node.type == "ordered_list" else 0
        for k, item in enumerate(node.children):
            marker = f"{start + k}. " if node.type == "ordered_list" else "- "
            body = self._blocks(item.children)
            pad = " " * len(marker)
            lines = body.split("\n")
            items.append(marker + lines[0] + "".join(
                "\n" + (pad + line if line else "") for line in lines[1:]))
        return "\n".join(items)

    def _table(self, node) -> str:
        rows, aligns = [], []
        for section in node.children:
            for tr in section.children:
                cells = []
                for cell in tr.children:
                    text = self._inline(cell.children[0]) if cell.children else ""
                    cells.append(text.replace("\n", " "))
                    if section.type == "thead":
                        style = str(cell.attrs.get("style", ""))
                        aligns.append(":-:" if "center" in style else "--:" if "right" in style
                                      else ":--" if "left" in style else "---")
                rows.append("| " + " | ".join(cells) + " |")
                if section.type == "thead":
                    rows.append("| " + " | ".join(aligns) + " |")
        return "\n".join(rows)

    def _deflist(self, node) -> str:
        out = []
        for child in node.children:
            if child.type == "dt":
                out.append(f"**{self._inline(child.children[0])}**")
            else:
                out.append(_quote(self._blocks(child.children)))
        return "\n\n".join(out)

    def _equation(self, content: str, label: str) -> str:
        number = self.index.numbers.get(label)
        if number is None:
            self.problems.append(f"{self.docname}: equation {label} has no number on the site")
        anchor = self.index.labels.get(label, (None, f"equation-{label}", ""))[1]
        tag = f" \\tag{{{number}}}" if number else ""
        return f'<a id="{html.escape(anchor)}"></a>\n\n$$\n{content.strip()}{tag}\n$$'

    # ---- directives
    def _directive(self, node) -> str | None:
        from myst_parser.parsers.directives import parse_directive_text

        info = node.info.strip()
        name, _, first = info[1:].partition("}")
        name, first = name.strip(), first.strip()
        parsed = parse_directive_text(_AnyDirective, first, node.content, validate_options=False)
        options, body = parsed.options, "\n".join(parsed.body)
        arg = " ".join(parsed.arguments)
        label = options.get("label") or options.get("name")
        anchor = f'<a id="{html.escape(self._anchor_of(label))}"></a>\n' if label else ""
        inner = self.markdown_fragment(body)
        if name == "exercise":
            number = None if "nonumber" in options else self.index.numbers.get(label)
            if number is None and "nonumber" not in options:
                self.problems.append(f"{self.docname}: exercise {label} has no number")
            head = f"**Exercise {number}**" if number else "**Exercise**"
            if arg:
                head += f" ({self._inline_text(arg)})"
            return anchor + _quote(head + "\n\n" + inner)
        if name == "solution":
            if not self.solutions:
                return None
            target = arg or ""
            number = self.index.numbers.get(target)
            summary = f"Solution to Exercise {number}" if number else "Solution"
            return (f"{anchor}<details>\n<summary>{summary}</summary>\n\n{inner}\n\n</details>")
        if name in ("solution-start", "solution-end"):
            return None            # handled per cell by render_notebook
        if name in ADMONITIONS:
            title = self._inline_text(arg) if arg else name.capitalize()
            if "dropdown" in str(options.get("class", "")):
                return f"{anchor}<details>\n<summary>{title}</summary>\n\n{inner}\n\n</details>"
            return anchor + _quote(f"**{title}**\n\n{inner}")
        if name in ("math",):
            return self._equation(body, label) if label else f"$$\n{body.strip()}\n$$"
        if name in ("figure", "image"):
            alt = options.get("alt", "")
            return anchor + f"![{_escape(alt)}]({arg})" + (f"\n\n{inner}" if inner else "")
        if name in ("code-block", "code", "sourcecode"):
            return f"```{arg}\n{body}\n```"
        if name == "epigraph" or name == "highlights" or name == "pull-quote":
            return _quote(inner)
        self.problems.append(f"{self.docname}: directive {name} written as a block quote")
        return anchor + _quote(f"**{name}**\n\n{inner}")

    def markdown_fragment(self, source: str) -> str:
        from markdown_it.tree import SyntaxTreeNode

        return self._blocks(SyntaxTreeNode(self.md.parse(source)).children)

    # ---- inline
    def _inline_text(self, source: str) -> str:
        from markdown_it.tree import SyntaxTreeNode

        tree = SyntaxTreeNode(self.md.parse(source))
        para = tree.children[0] if tree.children else None
        return self._inline(para.children[0]) if para and para.children else _escape(source)

    def _inline(self, node) -> str:
        return "".join(self._span(c) for c in node.children)

    def _span(self, node) -> str:
        t = node.type
        if t == "text":
            return _escape(node.content)
        if t == "softbreak":
            return "\n"
        if t == "hardbreak":
            return "\\\n"
        if t == "code_inline":
            tick = "``" if "`" in node.content else "`"
            pad = " " if node.content.startswith("`") or node.content.endswith("`") else ""
            return f"{tick}{pad}{node.content}{pad}{tick}"
        if t in ("em", "strong", "s"):
            mark = node.markup or {"em": "*", "strong": "**", "s": "~~"}[t]
            return mark + "".join(self._span(c) for c in node.children) + mark
        if t == "link":
            text = "".join(self._span(c) for c in node.children)
            return f"[{text}]({node.attrs.get('href', '')})"
        if t == "image":
            alt = "".join(c.content for c in node.children) if node.children else ""
            return f"![{_escape(alt)}]({node.attrs.get('src', '')})"
        if t == "math_inline":
            return f"${node.content}$"
        if t == "math_inline_double":
            return f"$${node.content}$$"
        if t == "html_inline":
            return node.content
        if t == "myst_role":
            return self._role(node.meta["name"], node.content)
        if t == "footnote_ref":
            label = node.meta.get("label", "")
            return f'<sup>[{self._footnote(label)}](#fn-{html.escape(label)})</sup>'
        if t == "myst_target":
            return f'<a id="{html.escape(node.content)}"></a>'
        self.problems.append(f"{self.docname}: unhandled inline {t}")
        return _escape(node.content or "")

    def _footnote(self, label: str) -> int:
        return self.footnote_numbers.setdefault(label, len(self.footnote_numbers) + 1)

    def _anchor_of(self, label: str) -> str:
        return self.index.labels.get(label, (None, label, ""))[1]

    def _role(self, name: str, content: str) -> str:
        text, target = _split_target(content)
        if name == "ref":
            doc, anchor, title = self._label(target)
            return f"[{_escape(text or title or target)}]({self.index.url(doc, anchor)})"
        if name == "numref":
            doc, anchor, title = self._label(target)
            number = self.index.numbers.get(target, "")
            kind = ("Figure" if target.startswith("fig") else "Table" if target.startswith("tab")
                    else "Exercise" if target.startswith("ex") else "Section")
            shown = (text.replace("%s", number).replace("{number}", number) if text
                     else f"{kind} {number}".strip())
            shown = shown.replace("{name}", title or "")
            return f"[{_escape(shown)}]({self.index.url(doc, anchor)})"
        if name == "eq":
            number = self.index.numbers.get(target)
            doc, anchor, _ = self._label(target)
            if number is None:
                self.problems.append(f"{self.docname}: equation {target} has no number")
            return f"[({number or target})]({self.index.url(doc, anchor)})"
        if name in ("doc",):
            doc = str((Path(self.docname).parent / target).as_posix()) if not target.startswith("/") else target[1:]
            return f"[{_escape(text or doc)}]({self.index.url(doc)})"
        if name.startswith("cite"):
            keys = [k.strip() for k in target.split(",") if k.strip()]
            parts = []
            for key in keys:
                doc, anchor, who, year = self.index.citations.get(key, (None, key, key, "?"))
                if doc is None:
                    self.problems.append(f"{self.docname}: citation {key} not on the site")
                    doc = "reference/bibliography"
                shown = f"{who} ({year})" if name in ("cite:t", "cite:ct") else f"{who}, {year}"
                parts.append(f"[{_escape(shown)}]({self.index.url(doc, anchor)})")
            joined = "; ".join(parts)
            return joined if name in ("cite:t", "cite:ct") else f"({joined})"
        if name in ("glue", "glue:", "glue:any", "glue:text", "glue:md", "glue:math"):
            key, _, spec = content.partition(":")
            if key not in self.glue:
                self.problems.append(f"{self.docname}: glue key {key} not in the executed notebook")
                return f"`{key}`"
            value = self.glue[key]
            try:
                text = format(value, spec) if spec else str(value)
            except (ValueError, TypeError) as exc:
                self.problems.append(f"{self.docname}: glue {key}={value!r} with format "
                                     f"{spec!r}: {exc}")
                text = str(value)
            if name == "glue:math":
                return f"${text}$"
            return text if name == "glue:md" else _escape(text)
        if name == "math":
            return f"${content}$"
        if name == "term":
            doc, anchor, _ = self._label("term-" + target) if ("term-" + target) in self.index.labels \
                else ("reference/glossary", "", "")
            return f"[{_escape(text or target)}]({self.index.url(doc, anchor)})"
        if name in ("code", "literal", "samp", "file", "kbd", "command", "program"):
            return f"`{content}`"
        if name in ("sub", "subscript"):
            return f"<sub>{html.escape(content)}</sub>"
        if name in ("sup", "superscript"):
            return f"<sup>{html.escape(content)}</sup>"
        self.problems.append(f"{self.docname}: role {name} written as its text")
        return _escape(text or target)

    def _label(self, label: str):
        if label not in self.index.labels:
            self.problems.append(f"{self.docname}: label {label} not on the site")
            return (self.docname, label, label)
        return self.index.labels[label]


def _split_target(content: str) -> tuple[str, str]:
    """``"text <target>"`` -> ("text", "target"); ``"target"`` -> ("", "target")."""
    content = content.strip()
    if content.endswith(">") and "<" in content:
        text, _, target = content[:-1].rpartition("<")
        return text.strip(), target.strip()
    return "", content


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


# ------------------------------------------------------------- notebooks

def _solution_marker(writer: Writer, cell) -> tuple[str, str] | None:
    """("start"|"end", exercise label) if the cell is a solution-start/-end directive."""
    from markdown_it.tree import SyntaxTreeNode

    tree = SyntaxTreeNode(writer.md.parse(cell.source))
    for node in tree.children:
        if node.type in ("fence", "colon_fence") and node.info.strip().startswith("{solution-"):
            kind = node.info.strip()[1:].partition("}")
            return kind[0].split("-")[1], kind[2].strip()
    return None


def render_notebook(nb, index: SiteIndex, docname: str, glue: dict | None = None,
                    solutions: bool = True):
    """The plain-Jupyter rendering of one chapter (a new ``nbformat`` notebook).

    Markdown cells are rewritten by :class:`Writer`; code cells are kept (outputs
    stripped). Between ``solution-start`` and ``solution-end`` the code cells are
    collapsed (``metadata.jupyter.source_hidden``, honoured by JupyterLab and Colab) under
    a line "Solution to Exercise 5.1 (hidden cells below)", or dropped when
    ``solutions=False``. Returns ``(notebook, problems)``.
    """
    import nbformat

    writer = Writer(index, docname, glue, solutions)
    out = copy.deepcopy(nb)
    cells, inside = [], None
    for cell in out.cells:
        if cell.cell_type == "markdown":
            marker = _solution_marker(writer, cell)
            if marker and marker[0] == "start":
                inside = marker[1]
                if solutions:
                    number = index.numbers.get(inside)
                    cell.source = (f"**Solution to Exercise {number}** (the hidden code cells "
                                   "below: click to show them)") if number else "**Solution**"
                    cells.append(cell)
                continue
            if marker and marker[0] == "end":
                inside = None
                continue
            if inside is not None and not solutions:
                continue
            cell.source = writer.markdown(cell.source)
            cell.pop("attachments", None)
        else:
            if inside is not None:
                if not solutions:
                    # a student copy keeps what replaced the solution (a stub cell)
                    if "solution" in cell.metadata.get("tags", []):
                        continue
                else:
                    cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    out.cells = cells
    if writer.section_numbers and writer.headings != len(writer.section_numbers):
        writer.problems.append(f"{docname}: {writer.headings} headings but "
                               f"{len(writer.section_numbers)} sections on the site")
    nbformat.validate(out)
    return out, writer.problems


_INDEX_CACHE: dict = {}


def plain_notebook(nb, docname: str, build: Path = ROOT / "_build", solutions: bool = True):
    """:func:`render_notebook` with the site's index and the chapter's glue loaded from ``build``.

    For the student-copy generator: ``plain_notebook(student_nb, "chapters/05_linear_layer",
    solutions=False)`` after it has replaced solution cells by stubs (stubs, untagged
    ``solution``, are kept; cells tagged ``solution`` and ``{solution}`` blocks are dropped).
    Needs a site build (``make book``). Returns ``(notebook, problems)``.
    """
    build = Path(build)
    if build not in _INDEX_CACHE:
        _INDEX_CACHE[build] = load_index(build)
    executed = build / "jupyter_execute" / f"{docname}.ipynb"
    glue = glue_values(executed) if executed.exists() else {}
    return render_notebook(nb, _INDEX_CACHE[build], docname, glue, solutions=solutions)


def render_markdown(source: str, index: SiteIndex, docname: str, glue: dict | None = None,
                    solutions: bool = True) -> str:
    """One markdown cell's source as plain Jupyter markdown (see :class:`Writer`)."""
    return Writer(index, docname, glue, solutions).markdown(source)


def main(argv: list[str] | None = None) -> int:
    import nbformat

    parser = argparse.ArgumentParser(prog="python -m booktools.plain_jupyter",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="chapters (default: chapters/*.ipynb)")
    parser.add_argument("--build", type=Path, default=ROOT / "_build")
    parser.add_argument("--out", type=Path, default=None, help="default: BUILD/jupyter")
    parser.add_argument("--site", type=Path, default=None,
                        help="also copy into SITE/_sources (download button) and SITE/jupyter")
    parser.add_argument("--colab-branch", default=None, metavar="BRANCH",
                        help="with --site: point the site's Colab buttons at BRANCH, where "
                             "the maintainer publishes BUILD/jupyter/ (see the README)")
    parser.add_argument("--no-solutions", action="store_true")
    args = parser.parse_args(argv)
    out = args.out or args.build / "jupyter"
    index = load_index(args.build)
    paths = args.notebooks or sorted((ROOT / "chapters").glob("*.ipynb"))
    failed, done = 0, []
    for path in paths:
        rel = path.resolve().relative_to(ROOT)
        docname = rel.with_suffix("").as_posix()
        executed = args.build / "jupyter_execute" / rel
        glue = glue_values(executed) if executed.exists() else {}
        nb, problems = render_notebook(nbformat.read(path, as_version=4), index, docname, glue,
                                       solutions=not args.no_solutions)
        for p in problems:
            print("problem:", p, file=sys.stderr)
        failed += bool(problems)
        text = nbformat.writes(nb) + "\n"
        targets = [out / rel]
        if args.site:
            targets += [args.site / "jupyter" / rel, args.site / "_sources" / rel]
        for t in targets:
            t.parent.mkdir(parents=True, exist_ok=True)
            t.write_text(text)
        print(f"{rel} -> {out / rel}" + (f" (+ {args.site})" if args.site else ""))
        done.append(rel.as_posix())
    if args.site and args.colab_branch:
        print(f"Colab buttons -> branch {args.colab_branch}: "
              f"{retarget_colab(args.site, args.colab_branch, done)} pages")
    return 1 if failed else 0


def retarget_colab(site: Path, branch: str, notebooks: list[str],
                   config: Path = ROOT / "_config.yml") -> int:
    """Point the site's Colab launch buttons at ``branch``; return the pages changed.

    sphinx-book-theme builds them as ``{colab_url}/github/OWNER/REPO/blob/{branch}/...``
    from ``repository.branch``; the rendered notebooks live on their own branch with the
    same paths, so only the branch part of that one URL prefix changes, and only for
    the ``notebooks`` rendered (paths like ``chapters/05_linear_layer.ipynb``).
    """
    import yaml

    cfg = yaml.safe_load(Path(config).read_text())
    owner_repo = cfg["repository"]["url"].rstrip("/").split("github.com/")[1]
    colab = cfg.get("launch_buttons", {}).get("colab_url", "https://colab.research.google.com")
    old = f"{colab.rstrip('/')}/github/{owner_repo}/blob/{cfg['repository'].get('branch', 'main')}/"
    new = f"{colab.rstrip('/')}/github/{owner_repo}/blob/{branch}/"
    changed = 0
    for page in Path(site).rglob("*.html"):
        text = page.read_text()
        new_text = text
        for rel in notebooks:
            new_text = new_text.replace(old + rel, new + rel)
        if new_text != text:
            page.write_text(new_text)
            changed += 1
    return changed


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
