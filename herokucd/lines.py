"""Bytes as they arrive from a process or a socket, to whole lines of text."""

import codecs


class LineDecoder:
    """UTF-8 decoded incrementally (a character split between two reads stays whole; bytes
    that are not UTF-8 read as �), "\\r\\n" read as "\\n", and a last line without "\\n"
    given by `close()`."""

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, data: bytes, final: bool = False) -> list[str]:
        """The lines `data` completes."""
        text = self._partial + self._decoder.decode(data, final)
        # A "\r" kept at the end of `_partial` meets its "\n" here, in the next read's text.
        *lines, self._partial = text.replace("\r\n", "\n").split("\n")
        return lines

    def close(self) -> list[str]:
        """The lines still held: the end of the last one, when it had no "\\n"."""
        lines = self.feed(b"", final=True)
        if self._partial:
            lines.append(self._partial)
            self._partial = ""
        return lines
