"""Chapter 8's notation, the collisions left after tests/test_notation.py's chapter-8 rules
(issue 22 §5). One detector each, tested on lines of the chapter before the fix (positive)
and on their replacements (negative), then run over the chapter:

- a gradient's code name (``dX``, ``dW``, ``dgamma``) written in the math, where it reads
  as an italic differential (the math says dL/dX; a differential is roman d);
- a length written as a decorated L (``\\bar L`` for the padded length): L is the loss,
  lengths are L_in, L_out, L_pad;
- the dilated upstream gradient written ``\\tilde g``, which layer normalization defines as
  gamma * g;
- batch normalization's inverse standard deviation named r, the letter of the
  convolution's unreached entries (it is sigma_eps^{-1}, in code ``inv_sigma``);
- group normalization's group size written c, the constant of ``x + c 1``;
- a class label written y_n (row n of the output Y): the correct class is k_n, as in
  chapter 2's batch cross-entropy.

Set CH08_NOTEBOOK to another copy of the chapter (e.g. ``git show e6756ff:chapters/
08_more_layers.ipynb``, the chapter before these fixes) to see each detector go red there.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = Path(os.environ.get("CH08_NOTEBOOK", ROOT / "chapters" / "08_more_layers.ipynb"))


def _cells(kind: str) -> str:
    nb = json.loads(CHAPTER.read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind)


def _math(markdown: str) -> list[str]:
    markdown = re.sub(r"```\{code-cell\}.*?```", "", markdown, flags=re.S)
    return [a or b for a, b in re.findall(r"\$\$(.+?)\$\$|\$(.+?)\$", markdown, flags=re.S)]


def _finds(pattern: str, texts: list[str]) -> list[str]:
    return [m.group(0) for t in texts for m in re.finditer(pattern, t)]


def gradient_name_in_math(code: str, markdown: str) -> list[str]:
    """``dX``, ``dW``, ``d\\gamma`` in math (not ``\\mathrm{d}X`` or ``\\texttt{dX}``)."""
    return _finds(r"(?<![\\\w{])d(?:[A-Z]\w*|\\gamma|\\beta)(?![\w}])", _math(markdown))


def decorated_length(code: str, markdown: str) -> list[str]:
    return _finds(r"\\(?:bar|tilde|hat|check)\s*\{?\s*L(?![\w])", _math(markdown))


def dilated_g_as_tilde(code: str, markdown: str) -> list[str]:
    """``\\tilde g`` with a position index (``\\tilde g_{(i-1)\\text{stride}+1}``,
    ``\\tilde g_{p,m,l-j+1}``, ``\\tilde g_{2t}``) or set to zero: the dilated G."""
    return _finds(r"\\tilde g(?:_\{[^}]*(?:stride|,|\d)[^}]*\}|\s*=\s*0\b)", _math(markdown))


def r_as_inverse_std(code: str, markdown: str) -> list[str]:
    return (_finds(r"(?m)^\s*r\s*=\s*\(\s*var\b|\br=r\b|c\[\"r\"\]", [code])
            + _finds(r"(?<![\w\\])r = \(\\sigma|\\partial L/\\partial r(?![\w])", _math(markdown)))


def group_size_c(code: str, markdown: str) -> list[str]:
    return _finds(r"groups of \$c(?: = \d+)?\$|\$c\\?,?\s*L_\{\\text\{in\}\}\$", [markdown])


def label_as_y(code: str, markdown: str) -> list[str]:
    return _finds(r"\\ne y_n|z_\{n\s*y_n\}|labels \$y_n\$", [markdown])


DETECTORS = {"gradient name in math": gradient_name_in_math,
             "decorated length": decorated_length,
             "dilated G as tilde g": dilated_g_as_tilde,
             "r as the inverse std": r_as_inverse_std,
             "group size c": group_size_c,
             "label y_n": label_as_y}

# each positive example is a line of chapter 8 before the fix (e6756ff), each negative one
# its replacement or a legitimate use elsewhere in the chapter
POSITIVE = [
    ("gradient name in math", "",
     r"their relative errors, $\lVert \text{wrong} - dX\rVert / \lVert dX\rVert$, are far"),
    ("gradient name in math", "", r"$\langle G, \operatorname{conv}(dX, W)\rangle$, $db$"),
    ("decorated length", "", r"of length $\bar L = L_{\text{in}} + 2\,\text{pad}$ (so"),
    ("decorated length", "", r"$\Big\lfloor \frac{\bar L - K}{\text{stride}} \Big\rfloor$"),
    ("dilated G as tilde g", "",
     r"consecutive entries, $\tilde g_{(i-1)\text{stride}+1} = g_i$ and $\tilde g = 0$"),
    ("dilated G as tilde g", "", r"$$\sum_{m,j} \tilde g_{p,m,l-j+1}\, w_{m,d,j}$$"),
    ("r as the inverse std", "    r = (var + eps) ** -0.5", ""),
    ("r as the inverse std", 'dXc = dX_hat * c["r"]', ""),
    ("r as the inverse std", "", r"$r = (\sigma^2 + \epsilon)^{-1/2}$, $\partial L/\partial r = 1$"),
    ("group size c", "", r"into groups of $c$ consecutive channels, the $c\,L_{\text{in}}$ numbers"),
    ("label y_n", "", r"logits $Z$ ($N \times C$) and labels $y_n$ is"),
    ("label y_n", "", r"$\sum_{k \ne y_n} \max(0,\ z_{nk} - z_{n y_n} + 1)$"),
]
NEGATIVE = [
    ("gradient name in math", "dX, dW = G @ W.T, X.T @ G",
     r"$\lVert \text{wrong} - \partial L/\partial X\rVert$, $\mathrm{d}X$, $\texttt{dX}$, "
     r"$\operatorname{diag}(p)$, $\sum_d \hat x_d$, $\mathrm{d}\gamma \odot \hat x$"),
    ("decorated length", "",
     r"$L_{\text{pad}} = L_{\text{in}} + 2\,\text{pad}$, $\bar x$, $\partial L/\partial \bar X$"),
    ("dilated G as tilde g", "",
     r"$g^{\text{dil}}_{(i-1)\text{stride}+1} = g_i$; $\tilde g = \gamma \odot g$, "
     r"$\operatorname{mean}(\tilde g \odot \hat x)$, $\tilde g_d$"),
    ("r as the inverse std", "r = (L_in + 2 * pad - K) % stride\ninv_sigma = (var + eps) ** -0.5",
     r"$r = (L_{\text{pad}} - K) \bmod \text{stride}$, $\sigma_\epsilon^{-1}$"),
    ("group size c", "", r"groups of $C_g = 3$ channels; $x + c\mathbf 1$"),
    ("label y_n", "", r"$\sum_{j \ne k_n} \max(0,\ z_{nj} - z_{n k_n} + 1)$, $y_{n,m,i}$, $y_i$"),
]


def test_every_detector_has_examples():
    assert {n for n, _, _ in POSITIVE} == set(DETECTORS) == {n for n, _, _ in NEGATIVE}


@pytest.mark.parametrize("name,code,markdown", POSITIVE)
def test_detector_finds(name, code, markdown):
    assert DETECTORS[name](code, markdown), (name, code, markdown)


@pytest.mark.parametrize("name,code,markdown", NEGATIVE)
def test_detector_ignores(name, code, markdown):
    assert DETECTORS[name](code, markdown) == [], (name, code, markdown)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_chapter8_is_clean(name):
    hits = DETECTORS[name](_cells("code"), _cells("markdown"))
    assert hits == [], f"{CHAPTER.name}: {name}: {hits}"
