"""An independent check that a string handed to Streamlit's Markdown renders as plain text.

It mirrors the renderer's steps that matter (CommonMark escapes, then GitHub-flavoured autolinking of
bare URLs, www. names and e-mail addresses on the unescaped text) rather than calling ui.text; the
browser test (tests/hostile/test_markdown_browser.py) checks the real renderer.
"""

from __future__ import annotations

import re
import string
import unicodedata

WORD_JOINER = "\u2060"
PUNCTUATION = set(string.punctuation)
# mdast-util-gfm-autolink-literal's patterns (applied to text nodes after escapes are resolved).
GFM_URL = re.compile(r"(https?:\/\/|www(?=\.))([-.\w]+)", re.IGNORECASE)
GFM_EMAIL = re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+")
GFM_PROTOCOL = re.compile(r"(mailto|xmpp):[-.\w+]+@", re.IGNORECASE)


def unescape(markdown: str) -> str:
    """The text a CommonMark renderer shows for ``markdown``; AssertionError if any character would be
    markup (ASCII punctuation without its backslash) or a line break or control character."""
    out = []
    i = 0
    while i < len(markdown):
        ch = markdown[i]
        if ch == "\\":
            assert i + 1 < len(markdown) and markdown[i + 1] in PUNCTUATION, f"dangling backslash in {markdown!r}"
            out.append(markdown[i + 1])
            i += 2
            continue
        assert ch not in PUNCTUATION, f"unescaped {ch!r} at {i} in {markdown!r}"
        assert ch == WORD_JOINER or unicodedata.category(ch)[0] != "C", f"control character {ch!r} in {markdown!r}"
        assert ch not in "\n\r\u2028\u2029\x85", f"line break in {markdown!r}"
        out.append(ch)
        i += 1
    return "".join(out)


def assert_inert(markdown: str) -> str:
    """``markdown`` renders as text: no markup, no autolink.  Returns the visible text (joiners removed)."""
    text = unescape(markdown)
    for pattern in (GFM_URL, GFM_EMAIL, GFM_PROTOCOL):
        match = pattern.search(text)
        assert match is None, f"{markdown!r} would be autolinked at {match.group(0)!r}"
    return text.replace(WORD_JOINER, "")
