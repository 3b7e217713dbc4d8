#!/usr/bin/python3
"""Writes the JPEG fixtures of this folder (the test "JPEG check: ..." in tests/data/test_data_image.cpp):
small drawn pictures saved by Pillow (baseline, optimised Huffman tables, progressive, 4:2:0,
4:2:2, 4:4:4) and rewritten by jpegtran (restart intervals). Needs python3-pil and
libjpeg-turbo-progs; the files are committed, so the tests need neither."""
import subprocess, os, random
from PIL import Image
def picture(w, h, mode, seed):
    rnd = random.Random(seed)
    im = Image.new("RGB", (w, h)); px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = ((x * 11 + y * 5) % 256, (x * y * 3) % 256, rnd.randrange(256) if rnd.random() < 0.3 else (y * 13) % 256)
    return im.convert(mode)
out = os.path.dirname(os.path.abspath(__file__))
def save(name, im, **kw):
    im.save(os.path.join(out, name), "JPEG", **kw)
def tran(name, src, *args):
    data = subprocess.run(["jpegtran", *args, os.path.join(out, src)], capture_output=True, check=True).stdout
    open(os.path.join(out, name), "wb").write(data)
save("baseline_gray_23x17.jpg", picture(23, 17, "L", 1), quality=85)
save("baseline_420_optimized_29x21.jpg", picture(29, 21, "RGB", 2), quality=80, subsampling=2, optimize=True)
save("progressive_422_27x19.jpg", picture(27, 19, "RGB", 3), quality=75, subsampling=1, progressive=True)
tran("baseline_444_restart_every_mcu_21x13.jpg", "baseline_gray_23x17.jpg", "-restart", "1B")
os.remove(os.path.join(out, "baseline_444_restart_every_mcu_21x13.jpg"))
save("tmp444.jpg", picture(21, 13, "RGB", 4), quality=90, subsampling=0)
tran("baseline_444_restart_every_mcu_21x13.jpg", "tmp444.jpg", "-restart", "1B")
tran("progressive_gray_restart_23x17.jpg", "baseline_gray_23x17.jpg", "-progressive", "-restart", "2B")
os.remove(os.path.join(out, "tmp444.jpg"))
