"""Split a Telegram-HTML message into chunks of at most ``limit`` characters.

Cuts at line boundaries (a single line longer than the limit is cut between characters, never
inside a tag or an ``&...;`` entity) and keeps tags balanced: a chunk that ends inside ``<pre>``
closes it, and the next chunk reopens it.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"<[^>]*>|&#?[A-Za-z0-9]+;|[^<&]+|[<&]")
_TAG = re.compile(r"^<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*>$")
_ANY_TAG = re.compile(r"<[^>]*>")


def _apply(stack: list[tuple[str, str]], token: str) -> None:
    m = _TAG.match(token)
    if not m:
        return
    closing, name = m.group(1) == "/", m.group(2).lower()
    if closing:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i][0] == name:
                del stack[i:]
                break
    else:
        stack.append((name, token))


def _closers(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def _openers(stack: list[tuple[str, str]]) -> str:
    return "".join(tag for _, tag in stack)


def _tokens(line: str) -> list[str]:
    out: list[str] = []
    for tok in _TOKEN.findall(line):
        if tok.startswith("<") and len(tok) > 1 or tok.startswith("&") and len(tok) > 1:
            out.append(tok)
        else:
            out.extend(tok)  # plain text: one token per character
    return out


def _has_text(chunk: str) -> bool:
    return bool(_ANY_TAG.sub("", chunk).strip())


def split_message(text: str, limit: int) -> list[str]:
    """Chunks of at most ``limit`` characters, in order, each with balanced tags."""
    if limit < 50:
        raise ValueError("limit must be at least 50 characters")
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []
    buf = ""
    has_content = False

    def emit() -> None:
        nonlocal buf, has_content
        chunk = buf + _closers(stack)
        if _has_text(chunk):
            chunks.append(chunk)
        buf = _openers(stack)
        has_content = False

    for line in text.split("\n"):
        after = list(stack)
        for tok in _TOKEN.findall(line):
            _apply(after, tok)
        candidate = buf + ("\n" if has_content else "") + line
        if len(candidate) + len(_closers(after)) <= limit:
            buf, stack[:], has_content = candidate, after, True
            continue
        if has_content:
            emit()
            candidate = buf + line
            if len(candidate) + len(_closers(after)) <= limit:
                buf, stack[:], has_content = candidate, after, True
                continue
        # the line alone is too long: cut it between tokens
        for tok in _tokens(line):
            trial = list(stack)
            _apply(trial, tok)
            if len(buf) + len(tok) + len(_closers(trial)) > limit and has_content:
                emit()
            buf += tok
            stack[:] = trial
            has_content = True
    emit()
    return chunks
