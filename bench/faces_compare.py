"""Face_Comparison benchmark: the portal's compare API against the bare dlib pipeline.

Run from the repository root: `.venv/bin/python bench/faces_compare.py`. In one run:
1. POST /api/faces/compare/ end-to-end (Django test client, multipart, token auth, log row)
   on two ~640x480 single-face photos, against the bare dlib pipeline on the same photos with
   the same detector settings (no upsampling) and models already loaded. Target <= 1.15x.
2. A ~4000 px photo end-to-end against the bare pipeline detecting on the full-resolution
   image with upsampling once (what the usual wrappers do). Target <= 0.2x, same verdict.
3. Cold start (imports + model load) and the peak RSS of a worker process after 100
   comparisons. Target <= 500 MB, no growth between the 50th and the 100th.
4. 1:N search in a gallery of 100,000 synthetic references (`faces_synthetic_gallery`'s
   enrolment: own subjects, keys, sealed descriptors): p95 of the portal's search (gallery
   version read, cached matrix, exact re-check, result rows, audit entries written) against a
   bare numpy scan over the same float32 matrix; target p95 <= 50 ms and <= 1.2x the bare
   dot-product scan (|x|^2 - 2 x.q, the portal's own method, nothing around it: the honest
   baseline). The norm scan (face_recognition's face_distance, a 51 MB temporary per query at
   100,000 references) is printed for reference only. The cold build of the matrix (first
   search of a process) is its own figure, outside the p95. Recall
   against a brute-force per-reference scan must be 1.0. `--gallery-only` runs just this part,
   `--gallery-count N` changes the size.

Django runs on a temporary SQLite database; the photos are found as the face tests find them
(modules.faces.tests.fixtures: FACES_FIXTURES_DIR, default ../shared/faces) and changed in
memory only. Without them the run is skipped, or fails under CI=true.
"""

from __future__ import annotations

import base64
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modules.faces.tests.fixtures import FixturesMissing, fixtures_dir, on_ci  # noqa: E402

SMALL_A = "face_recognition/examples_obama-480p.jpg"
SMALL_B = "face_recognition/examples_obama.jpg"
LARGE = "face_recognition/examples_obama.jpg"
LARGE_OTHER = "face_recognition/examples_obama2.jpg"
GROUP = "face_recognition/examples_knn_examples_test_obama_and_biden.jpg"
BIDEN = "face_recognition/examples_biden.jpg"
REPEAT_SMALL = 15
REPEAT_LARGE_API = 5
REPEAT_LARGE_BARE = 2
WORKER_COMPARISONS = 100
GALLERY_COUNT = 100_000
GALLERY_QUERIES = 300
GALLERY_RECALL_QUERIES = 10
GALLERY_K = 5


def configure(db_path: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdefghijklmnopqrstuv")
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("LOG_FORMAT", "text")
    os.environ.setdefault("LOG_LEVEL", "warning")
    os.environ.setdefault("API_THROTTLE_USER", "100000/min")
    os.environ.setdefault("PORTAL_MODULES", "faces")
    # The gallery's master key (DEBUG is off): one per run, the database is thrown away too.
    os.environ.setdefault("FACES_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    # WhiteNoise warns that collectstatic has not run; the API needs no static files.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)


# -- photos, made in memory from the fixtures ------------------------------------------------


def jpeg(image: Any, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def around_face(name: str, size: tuple[int, int]) -> bytes:
    """A crop of the photo with the face's aspect ratio ``size`` around its (only) face."""
    from PIL import Image

    from modules.faces.engine import FaceEngine

    image = Image.open(fixtures_dir() / name).convert("RGB")
    box = FaceEngine().analyze(jpeg(image)).faces[0].box
    ratio = size[0] / size[1]
    width = min(image.width, round(image.height * ratio))
    height = round(width / ratio)
    left = min(max(0, (box.left + box.right) // 2 - width // 2), image.width - width)
    top = min(max(0, (box.top + box.bottom) // 2 - height // 2), image.height - height)
    crop = image.crop((left, top, left + width, top + height))
    return jpeg(crop.resize(size, Image.Resampling.LANCZOS))


def upscaled(name: str, longest: int) -> bytes:
    from PIL import Image

    image = Image.open(fixtures_dir() / name).convert("RGB")
    scale = longest / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    return jpeg(image.resize(size, Image.Resampling.BICUBIC), quality=88)


def photos() -> dict[str, bytes]:
    fixtures = fixtures_dir()
    return {
        "small_a": around_face(SMALL_A, (640, 480)),
        "small_b": around_face(SMALL_B, (640, 480)),
        "large": upscaled(LARGE, 4000),
        "large_other": (fixtures / LARGE_OTHER).read_bytes(),
        "group": (fixtures / GROUP).read_bytes(),
        "biden": (fixtures / BIDEN).read_bytes(),
    }


# -- the two sides ---------------------------------------------------------------------------


def api_client() -> Any:
    from django.contrib.auth.models import User

    from portal.test import api_client as make_client
    from portal.test import make_user

    user = User.objects.filter(username="bench").first() or make_user("bench", role="operator")
    return make_client(user)


def api_compare(client: Any, a: bytes, b: bytes) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(
        "/api/faces/compare/",
        {
            "image_a": SimpleUploadedFile("a.jpg", a, "image/jpeg"),
            "image_b": SimpleUploadedFile("b.jpg", b, "image/jpeg"),
        },
        format="multipart",
    )
    assert response.status_code == 200, response.content[:500]
    return response.json()


class BarePipeline:
    """What a script on dlib alone does: decode, detect, landmarks, descriptor, distance."""

    def __init__(self) -> None:
        import dlib

        from modules.faces.engine.dlib_models import (
            LANDMARKS_FILE,
            RECOGNITION_FILE,
            find_models_dir,
        )

        directory = find_models_dir()
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(directory / LANDMARKS_FILE))
        self.recognizer = dlib.face_recognition_model_v1(str(directory / RECOGNITION_FILE))

    def descriptor(self, data: bytes, upsample: int) -> Any:
        import numpy as np
        from PIL import Image

        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        faces = self.detector(pixels, upsample)
        largest = max(faces, key=lambda r: r.area())
        shape = self.predictor(pixels, largest)
        return np.array(self.recognizer.compute_face_descriptor(pixels, shape))

    def compare(self, a: bytes, b: bytes, upsample: int) -> float:
        import numpy as np

        return float(np.linalg.norm(self.descriptor(a, upsample) - self.descriptor(b, upsample)))


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


# -- parts 1 and 2 ---------------------------------------------------------------------------


def part_small(client: Any, bare: BarePipeline, images: dict[str, bytes]) -> None:
    a, b = images["small_a"], images["small_b"]
    api_compare(client, a, b)
    bare.compare(a, b, 0)
    api_times, bare_times = [], []
    for _ in range(REPEAT_SMALL):  # interleaved, so drift in machine load hits both sides
        api_times.append(timed(lambda: api_compare(client, a, b), 1)[0])
        bare_times.append(timed(lambda: bare.compare(a, b, 0), 1)[0])
    api, reference = statistics.median(api_times), statistics.median(bare_times)
    body = api_compare(client, a, b)
    print("(1) 640x480 pair, API end-to-end vs bare dlib (upsample 0), median of", REPEAT_SMALL)
    print(f"    API {api * 1000:.1f} ms, bare {reference * 1000:.1f} ms")
    print(f"    ratio {api / reference:.3f}x (target <= 1.15x); server-side {body['timings_ms']}")


def part_large(client: Any, bare: BarePipeline, images: dict[str, bytes]) -> None:
    from PIL import Image

    a, b = images["large"], images["large_other"]
    size = Image.open(io.BytesIO(a)).size
    api, body = timed(lambda: api_compare(client, a, b), REPEAT_LARGE_API)
    reference, distance = timed(lambda: bare.compare(a, b, 1), REPEAT_LARGE_BARE)
    same = body["match"] == (distance <= body["threshold"])
    print(f"(2) {size[0]}x{size[1]} photo ({len(a) / 1e6:.1f} MB) vs {LARGE_OTHER.rsplit('/')[-1]}")
    print(f"    API {api * 1000:.0f} ms (median of {REPEAT_LARGE_API}), bare full-resolution")
    print(f"    upsample 1: {reference * 1000:.0f} ms (median of {REPEAT_LARGE_BARE})")
    print(f"    ratio {api / reference:.3f}x (target <= 0.2x)")
    print(
        f"    verdicts: API match={body['match']} distance {body['distance']:.4f}, "
        f"bare distance {distance:.4f} -> {'same verdict' if same else 'DIFFERENT VERDICT'}"
    )


# -- part 3: a separate worker process -------------------------------------------------------


def rss_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def worker(db_path: Path) -> None:
    """Cold start, then WORKER_COMPARISONS comparisons; prints one JSON line."""
    started = time.perf_counter()
    configure(db_path)
    from django.core.wsgi import get_wsgi_application

    get_wsgi_application()
    import portal.urls  # noqa: F401 (loaded on a worker's first request otherwise)
    from modules.faces import services

    imported = time.perf_counter()
    services.face_engine().load()
    loaded = time.perf_counter()
    images = photos()
    client = api_client()
    pairs = [
        (images["small_a"], images["small_b"]),
        (images["large"], images["large_other"]),
        (images["group"], images["biden"]),
        (images["small_b"], images["biden"]),
    ]
    rss = {}
    for number in range(1, WORKER_COMPARISONS + 1):
        api_compare(client, *pairs[number % len(pairs)])
        if number in (50, WORKER_COMPARISONS):
            rss[number] = rss_mb("VmRSS")
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "load_s": loaded - imported,
                "rss_50": rss[50],
                "rss_100": rss[WORKER_COMPARISONS],
                "peak": rss_mb("VmHWM"),
            }
        )
    )


def part_worker(db_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, __file__, "--worker", str(db_path)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        print(result.stderr[-3000:])
        raise SystemExit("worker failed")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    growth = figures["rss_100"] - figures["rss_50"]
    print(
        f"(3) cold start: imports + django.setup {figures['import_s']:.2f} s, "
        f"model load {figures['load_s']:.2f} s, total "
        f"{figures['import_s'] + figures['load_s']:.2f} s"
    )
    print(
        f"    worker after {WORKER_COMPARISONS} comparisons (640x480 pairs, a 4000 px photo, "
        f"a group photo): peak RSS {figures['peak']:.0f} MB (target <= 500 MB)"
    )
    print(
        f"    RSS after 50: {figures['rss_50']:.0f} MB, after 100: {figures['rss_100']:.0f} MB, "
        f"growth {growth:+.1f} MB"
    )


# -- part 4: 1:N search at 100,000 references ------------------------------------------------


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[18]


def part_gallery(count: int) -> None:
    import numpy as np

    from modules.faces.engine.distance import face_distance
    from modules.faces.gallery import cache, synthetic
    from modules.faces.gallery import services as gallery

    started = time.perf_counter()
    synthetic.synthetic_enroll(count=count, seed=1)
    enrolled = time.perf_counter()
    index = cache.gallery_index()
    built = time.perf_counter()
    matrix, sq_norms = index.matrix, index.sq_norms
    rng = np.random.default_rng(2)
    near = [index._row(int(i)) + rng.normal(0, 0.02, 128) for i in rng.integers(0, count, 100)]
    far = list(synthetic.synthetic_descriptors(GALLERY_QUERIES - len(near), seed=3))
    queries = [*near, *far]

    def bare_norm(query: Any) -> Any:  # what a script does: every distance, then the k least
        distances = np.linalg.norm(matrix - query.astype(np.float32), axis=1)
        top = np.argpartition(distances, GALLERY_K)[:GALLERY_K]
        return top[np.argsort(distances[top])]

    def bare_dot(query: Any) -> Any:  # the same ordering by |x|^2 - 2 x.q, no portal around it
        scores = sq_norms - 2.0 * (matrix @ query.astype(np.float32))
        top = np.argpartition(scores, GALLERY_K)[:GALLERY_K]
        return top[np.argsort(scores[top])]

    def portal(query: Any) -> Any:
        return gallery.gallery_search(descriptor=query, k=GALLERY_K, threshold=0.6, source="cli")

    portal(queries[0]), bare_norm(queries[0]), bare_dot(queries[0])
    times: dict[str, list[float]] = {"portal": [], "norm": [], "dot": []}
    for query in queries:  # interleaved, so drift in machine load hits every side
        for name, function in (("portal", portal), ("norm", bare_norm), ("dot", bare_dot)):
            begun = time.perf_counter()
            function(query)
            times[name].append(time.perf_counter() - begun)
    recall_hits = recall_total = 0
    for query in queries[: GALLERY_RECALL_QUERIES // 2] + far[: GALLERY_RECALL_QUERIES // 2]:
        found = [item.reference.pk for item in portal(query).hits]
        measured = sorted(
            (face_distance(index._row(i), query), int(index.ids[i])) for i in range(len(index))
        )
        expected = [ref_id for _, ref_id in measured[:GALLERY_K]]
        recall_hits += sum(a == b for a, b in zip(found, expected, strict=True))
        recall_total += GALLERY_K
    figures = {name: p95(values) * 1000 for name, values in times.items()}
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"(4) 1:N search, {count:,} synthetic references, k={GALLERY_K}, {len(queries)} queries")
    print(f"    enrolment {enrolled - started:.0f} s (bulk, own subject and key each)")
    print(
        f"    cold matrix build (first search of a process, not in the p95): "
        f"{built - enrolled:.2f} s ({cache.skipped} unreadable rows skipped)"
    )
    print(
        f"    portal p95 {figures['portal']:.2f} ms (median {medians['portal']:.2f}; target <= "
        f"50 ms): version read, matrix scan, exact re-check, rows, audit written"
    )
    print(
        f"    bare dot scan p95 {figures['dot']:.2f} ms (median {medians['dot']:.2f}; the "
        f"portal's own |x|^2 - 2 x.q ordering, nothing around it)"
    )
    print(
        f"    bare norm scan p95 {figures['norm']:.2f} ms (median {medians['norm']:.2f}; "
        f"face_distance's way, a {len(index) * 128 * 4 / 1e6:.0f} MB temporary per query)"
    )
    dot_ratio = figures["portal"] / figures["dot"]
    verdict = "met" if dot_ratio <= 1.2 and figures["portal"] <= 50 else "MISSED"
    print(
        f"    portal / bare dot  = {dot_ratio:.3f}x  (target <= 1.2x, the honest baseline: "
        f"{verdict})"
    )
    print(
        f"    portal / bare norm = {figures['portal'] / figures['norm']:.3f}x  (reference only: "
        f"the norm scan is slower than the method the portal uses)"
    )
    print(
        f"    recall against a brute-force per-reference scan: {recall_hits}/{recall_total} "
        f"= {recall_hits / recall_total:.3f} (same ids, same order)"
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]))
        return
    gallery_only = "--gallery-only" in sys.argv
    count = GALLERY_COUNT
    if "--gallery-count" in sys.argv:
        count = int(sys.argv[sys.argv.index("--gallery-count") + 1])
    try:
        fixtures_dir()
    except FixturesMissing as exc:
        if on_ci():
            raise SystemExit(f"failed: {exc}; CI=true requires them") from None
        print(f"skipped: {exc}")
        return
    with tempfile.TemporaryDirectory(prefix="faces-bench-") as folder:
        db_path = Path(folder) / "bench.sqlite3"
        configure(db_path)
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from modules.faces import services

        if not gallery_only:
            services.face_engine().load()
            bare = BarePipeline()
            images = photos()
            client = api_client()
            part_small(client, bare, images)
            part_large(client, bare, images)
            part_worker(db_path)
        part_gallery(count)


if __name__ == "__main__":
    main()
