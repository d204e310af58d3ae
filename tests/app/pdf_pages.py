"""What a PDF's pages show, read with poppler's pdftoppm: the dark pixels of each page."""

import subprocess

import numpy as np

INK = 128
"""Grey level below which a pixel is ink (text, lines, bars)."""

DARK_PIXELS_OF_A_LINE = 20
"""Fewer dark pixels than one line of text leaves at 20 dpi: a page this empty is blank."""


def dark_pixels_per_page(pdf, folder, dpi: int = 20) -> list[int]:
    """How many pixels of each page are ink at ``dpi``. At 20 dpi a page number alone leaves
    none this dark, and one line of text leaves dozens, so 0 means a blank page."""
    subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), pdf, folder / "page"], check=True)
    counts = []
    for page in sorted(folder.glob("page*.pgm")):
        data = page.read_bytes()  # binary PGM (P5): header, then one byte per pixel
        width, height = (int(v) for v in data.split(maxsplit=3)[1:3])
        counts.append(int((np.frombuffer(data[-width * height:], dtype=np.uint8) < INK).sum()))
    return counts
