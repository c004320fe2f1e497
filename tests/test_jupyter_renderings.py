"""The Colab setup cell (booktools.colab) and the plain-Jupyter rendering (booktools.plain_jupyter)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import types

import pytest

from booktools.colab import repo_url, setup_cell_source

URL = "https://github.com/backprop-book/linear-layer-backprop"


def _run_cell(source, monkeypatch, pip_result, helpers_importable):
    """Execute the setup cell with ``import helpers`` failing until the fake pip 'installs'."""
    calls = []
    real_import = __import__
    state = {"installed": helpers_importable}

    def fake_import(name, *args, **kwargs):
        if name == "helpers":
            if not state["installed"]:
                raise ModuleNotFoundError("No module named 'helpers'")
            return types.ModuleType("helpers")
        return real_import(name, *args, **kwargs)

    def fake_run(cmd, **kwargs):
        calls.append((cmd, kwargs))
        state["installed"] = pip_result.returncode == 0
        return pip_result

    monkeypatch.setattr(subprocess, "run", fake_run)
    out, err = io.StringIO(), io.StringIO()
    builtins = dict(__builtins__ if isinstance(__builtins__, dict) else vars(__builtins__))
    builtins["__import__"] = fake_import
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        exec(compile(source, "<setup cell>", "exec"), {"__builtins__": builtins})
    return out.getvalue(), err.getvalue(), calls


def test_setup_cell_silent_when_helpers_present(monkeypatch):
    ok = subprocess.CompletedProcess([], 0, "", "")
    out, err, calls = _run_cell(setup_cell_source(URL), monkeypatch, ok, True)
    assert (out, err, calls) == ("", "", [])


def test_setup_cell_one_line_when_installing(monkeypatch):
    # pip's own chatter (the restart note) is captured by the cell, never shown
    noisy = subprocess.CompletedProcess([], 0, "Successfully installed ...\n",
                                        "Note: you may need to restart the kernel to use "
                                        "updated packages.\n")
    out, err, calls = _run_cell(setup_cell_source(URL), monkeypatch, noisy, False)
    assert out.count("\n") == 1 and out.startswith("Installed the book's helpers from " + URL)
    assert "restart the kernel" not in out + err and err == ""
    (cmd, kwargs), = calls
    assert cmd[1:4] == ["-m", "pip", "install"] and f"git+{URL}" in cmd[-1]
    assert kwargs.get("capture_output") is True


def test_setup_cell_raises_with_pip_error(monkeypatch):
    bad = subprocess.CompletedProcess([], 1, "", "ERROR: could not clone\n")
    with pytest.raises(RuntimeError, match="could not clone"):
        _run_cell(setup_cell_source(URL), monkeypatch, bad, False)


def test_setup_cell_is_plain_python_and_uses_config_url():
    compile(setup_cell_source(URL), "<setup cell>", "exec")   # no %pip magic
    assert repo_url() == URL


# ------------------------------------------------------- plain-Jupyter rendering

from pathlib import Path  # noqa: E402

import nbformat  # noqa: E402

from booktools import plain_jupyter as pj  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
BASE = "https://backprop-book.github.io/linear-layer-backprop/"


def raw_myst(markdown: str) -> list[str]:
    """MyST syntax left in a markdown cell, found by parsing it as MyST.

    Roles, ``(label)=`` targets, directive fences and labelled ``$$`` blocks are what
    plain Jupyter shows raw; the rendering must contain none.
    """
    from markdown_it.tree import SyntaxTreeNode

    found = []

    def walk(node):
        t = node.type
        if t == "myst_role":
            found.append(f"role {{{node.meta['name']}}}`{node.content}`")
        elif t == "myst_target":
            found.append(f"target ({node.content})=")
        elif t in ("fence", "colon_fence") and node.info.strip().startswith("{"):
            found.append(f"directive {node.info.strip()}")
        elif t == "math_block_label":
            found.append(f"labelled math ({node.info})")
        for child in node.children:
            walk(child)

    walk(SyntaxTreeNode(pj._parser().parse(markdown)))
    return found


def _index():
    return pj.SiteIndex(
        base=BASE,
        labels={"sec-a": ("chapters/01_x", "sec-a", "The first section"),
                "eq-y": ("chapters/01_x", "equation-eq-y", ""),
                "ex-a": ("chapters/01_x", "ex-a", ""),
                "fig-z": ("chapters/02_y", "fig-z", "")},
        numbers={"eq-y": "1.2", "ex-a": "1.1", "fig-z": "2.4"},
        citations={"k1": ("reference/bibliography", "id3", "Smith and Jones", "2020")},
        sections={"chapters/01_x": ["1", "1.1"]})


SAMPLE = r"""(sec-b)=
## Title with {ref}`sec-a`

Text {eq}`eq-y`, {numref}`fig-z`, {cite:t}`k1` and {cite:p}`k1`; loss {glue:text}`g1:.2f`,
count {glue:text}`g2`, a_b \* x.[^slip]

[^slip]: A corrected slip.

$$
y = x
$$ (eq-y)

```{exercise} Some *title*
:label: ex-a

### Hint
Do $x$.
```

```{solution} ex-a
The answer is {ref}`text <sec-a>`.
```

:::{admonition} Careful
:class: tip
Hi there.
:::
"""


def test_writer_resolves_every_myst_construct():
    out = pj.render_markdown(SAMPLE, _index(), "chapters/01_x", {"g1": 3.14159, "g2": 7})
    assert raw_myst(out) == []
    assert '<a id="sec-b"></a>' in out
    # the site's section number; the heading inside the exercise is not a section
    assert "## 1. Title with [The first section]" in out
    assert f"[The first section]({BASE}chapters/01_x.html#sec-a)" in out
    assert f"[(1.2)]({BASE}chapters/01_x.html#equation-eq-y)" in out
    assert f"[Figure 2.4]({BASE}chapters/02_y.html#fig-z)" in out
    assert f"[Smith and Jones (2020)]({BASE}reference/bibliography.html#id3)" in out
    assert f"([Smith and Jones, 2020]({BASE}reference/bibliography.html#id3))" in out
    assert "loss 3.14," in out and "count 7," in out
    assert r"y = x \tag{1.2}" in out
    assert "> **Exercise 1.1** (Some *title*)" in out and "> Do $x$." in out
    assert "> ### Hint" in out
    assert ":label:" not in out and ":class:" not in out
    assert "<details>\n<summary>Solution to Exercise 1.1</summary>" in out
    assert "> **Careful**" in out and "> Hi there." in out
    assert r"a\_b \* x" in out                  # escaped text stays literal
    assert '<sup>[1](#fn-slip)</sup>' in out and '<a id="fn-slip"></a><sup>1</sup> A corrected' in out


def test_writer_without_solutions_and_problems():
    w = pj.Writer(_index(), "chapters/01_x", {}, solutions=False)
    out = w.markdown(SAMPLE + "\n{ref}`missing-label` and {glue:text}`nokey`\n")
    assert "Solution" not in out and "The answer" not in out
    assert any("missing-label" in p for p in w.problems)
    assert any("nokey" in p for p in w.problems)


def test_solution_start_end_cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("```{exercise} T\n:label: ex-a\nDo it.\n```"),
                nbformat.v4.new_markdown_cell("```{solution-start} ex-a\n```"),
                nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
                nbformat.v4.new_code_cell("check(answer)"),
                nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
                nbformat.v4.new_code_cell("print(1)")]
    out, problems = pj.render_notebook(nb, _index(), "chapters/02_y", {})
    assert problems == []
    assert [c.cell_type for c in out.cells] == ["markdown", "markdown", "code", "code", "code"]
    assert out.cells[1].source.startswith("**Solution to Exercise 1.1**")
    assert out.cells[2].metadata["jupyter"]["source_hidden"] is True
    assert out.cells[3].metadata["jupyter"]["source_hidden"] is True
    assert "jupyter" not in out.cells[4].metadata
    student, _ = pj.render_notebook(nb, _index(), "chapters/01_x", {}, solutions=False)
    # the solution goes, a stub (untagged) stays, the markers go
    assert [c.source for c in student.cells if c.cell_type == "code"] == ["check(answer)", "print(1)"]
    assert all("Solution" not in c.source for c in student.cells)


def test_glue_values_read_from_myst_nb_outputs(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("glue(...)")
    # as myst_nb.glue(display=False) writes it (helpers.glue), and with display=True
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={"application/papermill.record/text/plain": "0.123456"},
        metadata={"scrapbook": {"name": "ch05_loss",
                                "mime_prefix": "application/papermill.record/"}}),
        nbformat.v4.new_output("display_data", data={"text/plain": "'float64'"},
                               metadata={"scrapbook": {"name": "ch05_dtype"}})]
    nb.cells = [cell]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert pj.glue_values(path) == {"ch05_loss": 0.123456, "ch05_dtype": "float64"}


def test_site_url_rule():
    assert pj.site_url({"repository": {"url": "https://github.com/Backprop-Book/linear-layer-backprop"}}) \
        == "https://backprop-book.github.io/linear-layer-backprop/"
    assert pj.site_url({"html": {"baseurl": "https://x.org/book"}, "repository": {}}) == "https://x.org/book/"
    with pytest.raises(ValueError, match="repository.url"):
        pj.site_url({"repository": {"url": "https://gitlab.com/a/b"}})


def test_retarget_colab_changes_only_rendered_chapters(tmp_path):
    base = "https://colab.research.google.com/github/backprop-book/linear-layer-backprop/blob/"
    (tmp_path / "chapters").mkdir()
    page = tmp_path / "chapters" / "05.html"
    page.write_text(f'<a href="{base}main/chapters/05_x.ipynb">Colab</a>'
                    f'<a href="{base}main/reference/notation.ipynb">Colab</a>')
    assert pj.retarget_colab(tmp_path, "colab", ["chapters/05_x.ipynb"]) == 1
    assert page.read_text() == (f'<a href="{base}colab/chapters/05_x.ipynb">Colab</a>'
                                f'<a href="{base}main/reference/notation.ipynb">Colab</a>')


def test_glue_values_read_the_sidecar_a_site_build_leaves(tmp_path):
    """myst-nb moves display=False glue outputs into NAME.glue.json; both places count."""
    import json

    import nbformat

    from booktools.plain_jupyter import glue_values
    from helpers.glue import glue_bundle

    bundle, meta = glue_bundle("in_outputs", 0.25)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle, metadata=meta)]
    nb.cells = [cell]
    executed = tmp_path / "ch.ipynb"
    nbformat.write(nb, executed)
    (tmp_path / "ch.glue.json").write_text(json.dumps(
        {"in_sidecar": {"output_type": "display_data", "data": {"text/plain": "99.7"},
                        "metadata": {"scrapbook": {"name": "in_sidecar"}}}}))
    assert glue_values(executed) == {"in_outputs": 0.25, "in_sidecar": 99.7}
