"""User-derived text inside Plotly figures, as plain text.

Plotly renders a subset of HTML in every text it draws (titles, tick labels, legend entries, hover
labels): ``<a href=…>`` becomes a clickable link, ``<b>``/``<i>``/``<br>`` format.  A CSV's class names or
column names reaching a figure could put a link to anywhere inside the app.  :func:`plain` writes ``&``,
``<`` and ``>`` as entities, which Plotly shows as the characters themselves.
"""

from __future__ import annotations


def plain(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
