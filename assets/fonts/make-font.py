"""Makes DejaVuSans-subset.ttf (see README.md): the subset, then every glyph given an
invisible one-point contour at x = 0, so that its bounding box starts at the pen position.

plotters 0.3.7 draws an ab_glyph glyph with the left edge of its bounding box at the pen
position, leaving out the glyph's left side bearing (`cl` then reads as `d`); with the box
starting at x = 0 the bearing is kept in the outline itself. Composite glyphs (accented
letters) are decomposed first so that they can take the point too. Run with Debian's
python3-fonttools: /usr/bin/python3 assets/fonts/make-font.py
"""
import subprocess
import sys

from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont

SRC = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
OUT = "assets/fonts/DejaVuSans-subset.ttf"
UNICODES = ("U+0020-007E,U+00A0-00FF,U+0391-03A9,U+03B1-03C9,U+2010-2027,U+2070-209F,"
            "U+2190-2193,U+2200-22FF,U+2016,U+1D40")

subprocess.run([sys.executable, "-m", "fontTools.subset", SRC, f"--unicodes={UNICODES}",
                "--layout-features=kern", "--no-hinting", f"--output-file={OUT}"], check=True)
font = TTFont(OUT)
glyf = font["glyf"]
glyphs = font.getGlyphSet()
for name in font.getGlyphOrder():
    g = glyf[name]
    if g.isComposite():
        pen = TTGlyphPen(glyphs)
        glyphs[name].draw(pen)
        glyf[name] = g = pen.glyph()
    if g.numberOfContours <= 0:
        continue
    coords = g.coordinates
    y = min(c[1] for c in coords)
    coords.append((0, y))
    g.flags.append(1)
    g.endPtsOfContours.append(len(coords) - 1)
    g.numberOfContours += 1
    g.recalcBounds(glyf)
    font["hmtx"][name] = (font["hmtx"][name][0], g.xMin)
font.save(OUT)
