"""Bytes as they arrive from a process or a socket, to whole lines of text."""

import codecs

# The most of one line kept while its end has not come: the log shows at most 10,000 characters
# of a line (deploys/logwriter.py MAX_LINE), after redacting, so a generous margin for the
# redaction. Output that never ends its line (`yes | tr -d '\\n'`) then costs bounded memory
# and bounded work per read; what comes past the bound, up to the next "\\n", is dropped.
MAX_LINE_CHARS = 1_000_000


class LineDecoder:
    """UTF-8 decoded incrementally (a character split between two reads stays whole; bytes
    that are not UTF-8 read as �), "\\r\\n" read as "\\n", and a last line without "\\n"
    given by `close()`. A line is kept up to MAX_LINE_CHARS characters."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._overlong = False  # `_partial` is full: drop text until the line ends

    def feed(self, data: bytes, final: bool = False) -> list[str]:
        """The lines `data` completes."""
        text = self._decoder.decode(data, final)
        if self._overlong:
            end = text.find("\n")
            if end < 0:
                return []
            text, self._overlong = text[end:], False  # its "\n" ends the line kept
        text = self._partial + text
        # A "\r" kept at the end of `_partial` meets its "\n" here, in the next read's text.
        *lines, self._partial = text.replace("\r\n", "\n").split("\n")
        if len(self._partial) > MAX_LINE_CHARS:
            self._partial, self._overlong = self._partial[:MAX_LINE_CHARS], True
        return lines

    def close(self) -> list[str]:
        """The lines still held: the end of the last one, when it had no "\\n"."""
        lines = self.feed(b"", final=True)
        if self._partial:
            lines.append(self._partial)
            self._partial = ""
        return lines
