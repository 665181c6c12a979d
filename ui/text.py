"""User-derived text shown through Streamlit's Markdown, as plain text.

Streamlit renders the text of ``st.markdown``, ``st.caption``, ``st.error``/``warning``/``info``/``success``,
``st.toast``, widget labels and progress texts as GitHub-flavoured Markdown plus its own extensions
(``:red[…]`` colours, ``:material/…:`` icons, ``:emoji:`` shortcodes, ``$…$`` maths).  A link parameter,
a formula, a file name or a CSV column name reaching one of them could draw a clickable link in the
app's own warning box or make the browser fetch an image.  :func:`escape` makes any string render as
exactly its characters: every ASCII punctuation character gets a backslash (CommonMark's escape, which
also disables every Streamlit extension), an invisible word joiner surrounds every ':', '.' and '@' (GFM
links bare URLs and e-mail addresses after the escapes are resolved), and line breaks, control and
invisible formatting characters (bidirectional overrides included) become a space or U+FFFD.

Rule for the pages: every string that did not come from our own source code goes through ``escape``
exactly once, at the point where it is put into Markdown (messages of InputError included: they
quote what was typed).  Tables (``st.dataframe``), ``st.code`` and ``st.text`` are already plain.
"""

from __future__ import annotations

import re
import string
import unicodedata

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
# GitHub-flavoured Markdown also turns bare URLs, www. names and e-mail addresses into links *after*
# parsing, from the text with its escapes already removed: an invisible word joiner on both sides of
# every ':', '.' and '@' breaks those patterns ("https⁠:⁠//", "www⁠.⁠", "a⁠@⁠b").
_JOIN_AROUND = re.compile(r"(\\[:.@])")
WORD_JOINER = "\u2060"
_SPACES = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029]")


def _visible(ch: str) -> str:
    return "\ufffd" if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") else ch


def plain(text: object) -> str:
    """``text`` on one line with control and invisible formatting characters made visible (no escaping)."""
    s = _SPACES.sub(" ", str(text))
    return "".join(_visible(ch) if not ch.isprintable() else ch for ch in s)


def escape(text: object) -> str:
    """``text`` as Markdown that renders as exactly its (visible) characters."""
    escaped = _PUNCTUATION.sub(r"\\\1", plain(text))
    return _JOIN_AROUND.sub(WORD_JOINER + "\\1" + WORD_JOINER, escaped)
