"""The nbgrader course (booktools.nbgrader_course): structure of the generated notebooks."""
import re

import nbformat

from booktools.nbgrader_course import IMPORT_CHECK, make_course, solution_cells
from booktools.student import ROOT
from helpers.exercises import EXERCISES


def test_course_structure(tmp_path):
    out = make_course(out=tmp_path / "course")
    config = (out / "nbgrader_config.py").read_text()
    # nbgrader resolves a relative root against the working folder, not the config's
    assert "CourseDirectory.root" not in config
    graded = set()
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        sols = solution_cells(nbformat.read(path, as_version=4))
        if not sols:
            continue
        nb = nbformat.read(out / "source" / path.stem / f"{path.stem}.ipynb", as_version=4)
        nbformat.validate(nb)
        ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells]
        assert len(ids) == len(set(ids))
        for label, src in sols:
            ans = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == f"{label}-answer"]
            test = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == f"{label}-test"]
            assert len(ans) == len(test) == 1
            a, t = ans[0], test[0]
            assert a.metadata["nbgrader"]["solution"] and not a.metadata["nbgrader"]["locked"]
            assert t.metadata["nbgrader"]["grade"] and t.metadata["nbgrader"]["locked"]
            assert t.metadata["nbgrader"]["points"] > 0
            assert "### BEGIN HIDDEN TESTS" in t.source and "### END HIDDEN TESTS" in t.source
            # the judge imported by the test cell itself, before it is used: a student's
            # `def graded_check` in an earlier cell must not stand in for it
            assert t.source.startswith(IMPORT_CHECK + "\n"), t.source
            # no solution text outside the region: stripping it leaves no body line
            outside = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "", a.source, flags=re.S)
            body = [ln.strip() for ln in src.splitlines()
                    if ln.startswith("    ") and not ln.strip().startswith(('"', "#"))]
            assert "### BEGIN SOLUTION" in a.source
            assert not any(ln and ln in outside for ln in body if "return" in ln), label
            graded.add(label)
    # every code exercise of the book, and nothing else, is graded in the course
    assert graded == set(EXERCISES), graded ^ set(EXERCISES)
