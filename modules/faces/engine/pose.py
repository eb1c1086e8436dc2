"""Head pose (roll and yaw) estimated from dlib's 5 landmarks, without a 3D model.

dlib's 5-point predictor gives, in order: the outer and inner corner of the eye on the image's
right (0, 1), the outer and inner corner of the eye on the image's left (2, 3), and the bottom
of the nose (4). Each eye's centre is the mean of its two corners.

- roll = atan2(dy, dx) of the eye line, from the image-left eye to the image-right eye, in
  degrees: 0 for level eyes, positive when the line turns clockwise on screen (y grows
  downwards), about +-180 for an upside-down face.
- yaw: the nose's offset along the eye line from the eyes' midpoint, divided by the distance
  between the eyes, ``r`` (0 for a frontal face; independent of roll, scale and photo size).
  A head turned by ``yaw`` shows the eyes ``e * cos(yaw)`` apart and moves the nose, which sits
  ``d`` in front of the eye plane, by ``d * sin(yaw)``: ``r = (d / e) * tan(yaw)``, so
  ``yaw = atan(r * e / d)``. With adult averages (eye centres ~63 mm apart, the bottom of the
  nose ~21 mm in front of them) ``e / d`` is ``YAW_DEPTH_RATIO`` = 3. An estimate: good to a few
  degrees near frontal, a rough one beyond ~45 degrees; positive when the nose points to the
  image's right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

YAW_DEPTH_RATIO = 3.0


def roll_and_yaw(landmarks: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """(roll, yaw) in degrees from 5 landmarks; (0, 0) for any other layout."""
    if len(landmarks) != 5:
        return 0.0, 0.0
    (x0, y0), (x1, y1), (x2, y2), (x3, y3), (nose_x, nose_y) = landmarks
    right_x, right_y = (x0 + x1) / 2, (y0 + y1) / 2
    left_x, left_y = (x2 + x3) / 2, (y2 + y3) / 2
    dx, dy = right_x - left_x, right_y - left_y
    eye_distance = math.hypot(dx, dy)
    if eye_distance == 0:
        return 0.0, 0.0
    roll = math.degrees(math.atan2(dy, dx))
    mid_x, mid_y = (left_x + right_x) / 2, (left_y + right_y) / 2
    offset = ((nose_x - mid_x) * dx + (nose_y - mid_y) * dy) / eye_distance**2
    yaw = math.degrees(math.atan(offset * YAW_DEPTH_RATIO))
    return roll, yaw
