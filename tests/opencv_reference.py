#!/usr/bin/env python3
"""OpenCV's own answers, for the tests of minidl's face detector (run by /usr/bin/python3,
which sees Debian's python3-opencv). One call does every case for an image, since starting
Python and importing cv2 costs more than the work.

  opencv_reference.py detect IMAGE SCALE_FACTOR NEIGHBOURS[,NEIGHBOURS...] CASCADE [CASCADE...]
      prints {"CASCADE": {"NEIGHBOURS": [[x, y, w, h], ...], ...}, ...}: what
      cv2.CascadeClassifier(CASCADE).detectMultiScale returns on IMAGE read as grayscale
  opencv_reference.py resize IMAGE OUTDIR HxW [HxW...]
      writes cv2.resize(IMAGE read as grayscale, (W, H), interpolation=INTER_LINEAR_EXACT),
      the resize CascadeClassifier builds its pyramid with, to OUTDIR/HxW.png

Exit status 3 when cv2 cannot be imported, so the caller can skip with that reason.
"""
import json
import sys

try:
    import cv2
except ImportError as e:  # the caller reports the skip
    print(f"cv2 is not importable: {e}", file=sys.stderr)
    sys.exit(3)


def read_gray(path):
    image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    if image is None:
        sys.exit(f"cannot read {path}")
    return image


def main(argv):
    if len(argv) >= 6 and argv[1] == "detect":
        image = read_gray(argv[2])
        scale = float(argv[3])
        out = {}
        for path in argv[5:]:
            cascade = cv2.CascadeClassifier(path)
            if cascade.empty():
                sys.exit(f"cannot load cascade {path}")
            out[path] = {}
            for n in argv[4].split(","):
                boxes = cascade.detectMultiScale(image, scaleFactor=scale, minNeighbors=int(n))
                out[path][n] = [[int(v) for v in b] for b in boxes]
        print(json.dumps(out))
    elif len(argv) >= 5 and argv[1] == "resize":
        image = read_gray(argv[2])
        for size in argv[4:]:
            h, w = (int(v) for v in size.split("x"))
            out = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR_EXACT)
            if not cv2.imwrite(f"{argv[3]}/{size}.png", out):
                sys.exit(f"cannot write {argv[3]}/{size}.png")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
