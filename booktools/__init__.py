"""Instructor and repository tooling (not shipped to students, not imported by chapters).

The chapters import :mod:`helpers`; everything that works *on* the book -- student
copies, grading, notebook cleaning, renderings for plain Jupyter -- lives here.
Run the modules from the repository root: ``python -m booktools.<module>``.
"""
