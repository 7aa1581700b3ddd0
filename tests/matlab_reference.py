"""Statement-by-statement MATLAB references shared by the descriptor tests."""


def literal_hsv(r: int, g: int, b: int) -> tuple[float, float, float]:
    """MATLAB rgb2hsv for one uint8 pixel, statement by statement."""
    r, g, b = r / 255, g / 255, b / 255
    v = max(max(r, g), b)
    s = v - min(min(r, g), b)
    flat = s == 0
    if flat:
        s = 1.0
    h = 0.0
    if r == v:
        h = (g - b) / s
    if g == v:
        h = 2 + (b - r) / s
    if b == v:
        h = 4 + (r - g) / s
    h = h / 6
    if h < 0:
        h = h + 1
    if flat:
        h = 0.0
    sat = 0.0 if flat or v == 0 else s / v
    return h, sat, v
