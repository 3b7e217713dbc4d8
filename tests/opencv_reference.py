#!/usr/bin/env python3
"""OpenCV's own answers, for the tests of minidl's face detector (run by /usr/bin/python3,
which sees Debian's python3-opencv).

  opencv_reference.py detect CASCADE IMAGE SCALE_FACTOR MIN_NEIGHBORS MIN_SIZE
      prints cv2.CascadeClassifier(CASCADE).detectMultiScale on IMAGE read as grayscale, as a
      JSON list of [x, y, w, h]
  opencv_reference.py resize IMAGE H W OUT
      writes cv2.resize(IMAGE read as grayscale, (W, H), interpolation=INTER_LINEAR_EXACT) to OUT (PNG)

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
    if len(argv) >= 2 and argv[1] == "detect" and len(argv) == 7:
        cascade = cv2.CascadeClassifier(argv[2])
        if cascade.empty():
            sys.exit(f"cannot load cascade {argv[2]}")
        image = cv2.imread(argv[3], cv2.IMREAD_GRAYSCALE)
        if image is None:
            sys.exit(f"cannot read {argv[3]}")
        min_size = int(argv[6])
        boxes = cascade.detectMultiScale(image, scaleFactor=float(argv[4]), minNeighbors=int(argv[5]),
                                         minSize=(min_size, min_size))
        print(json.dumps([[int(v) for v in b] for b in boxes]))
    elif len(argv) >= 2 and argv[1] == "resize" and len(argv) == 6:
        image = cv2.imread(argv[2], cv2.IMREAD_GRAYSCALE)
        if image is None:
            sys.exit(f"cannot read {argv[2]}")
        out = cv2.resize(image, (int(argv[4]), int(argv[3])), interpolation=cv2.INTER_LINEAR_EXACT)
        if not cv2.imwrite(argv[5], out):
            sys.exit(f"cannot write {argv[5]}")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
