#!/usr/bin/env python3
"""OpenCV's own answers on one image, for the tests of minidl's face detector (run by
/usr/bin/python3, which sees Debian's python3-opencv). One call does every case for the image,
since starting Python and importing cv2 costs more than the work.

  opencv_reference.py IMAGE OUTDIR SIZES NEIGHBOURS CASCADE [CASCADE...]

IMAGE is read as grayscale. For each HxW in SIZES (comma-separated), writes
cv2.resize(IMAGE, (W, H), interpolation=INTER_LINEAR_EXACT), the resize CascadeClassifier
builds its pyramid with, to OUTDIR/HxW.png. Prints, as JSON, {"CASCADE": {"N": [[x, y, w, h],
...]}} with what cv2.CascadeClassifier(CASCADE).detectMultiScale(IMAGE, 1.1, N) returns for
each N in NEIGHBOURS (comma-separated).

Exit status 3 when cv2 cannot be imported, so the caller can skip with that reason.
"""
import json
import sys

try:
    import cv2
except ImportError as e:  # the caller reports the skip
    print(f"cv2 is not importable: {e}", file=sys.stderr)
    sys.exit(3)


def main(argv):
    if len(argv) < 6:
        sys.exit(__doc__)
    image = cv2.imread(argv[1], cv2.IMREAD_GRAYSCALE)
    if image is None:
        sys.exit(f"cannot read {argv[1]}")
    for size in argv[3].split(","):
        h, w = (int(v) for v in size.split("x"))
        if not cv2.imwrite(f"{argv[2]}/{size}.png", cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR_EXACT)):
            sys.exit(f"cannot write {argv[2]}/{size}.png")
    out = {}
    for path in argv[5:]:
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            sys.exit(f"cannot load cascade {path}")
        out[path] = {}
        for n in argv[4].split(","):
            boxes = cascade.detectMultiScale(image, scaleFactor=1.1, minNeighbors=int(n))
            out[path][n] = [[int(v) for v in b] for b in boxes]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv)
