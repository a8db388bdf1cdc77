"""Point-cloud and mesh files, read with checks: ``.off`` meshes (ModelNet), ``.ply``, ``.xyz``, ``.npy``.

Every reader refuses, with the file named, what a damaged or hostile file can hold: a file larger
than :data:`MAX_FILE_BYTES`, counts that the file cannot hold or that pass :data:`MAX_VERTICES` /
:data:`MAX_FACES`, values that are not finite numbers, faces that point past the vertices, a pickled
``.npy``. Nothing is allocated from a count before it has been checked against the file's size.

:func:`sample_surface` turns a mesh into points uniformly on its surface (each triangle chosen with
probability proportional to its area, then a uniform point inside it), as PointNet's ModelNet data
were made; :func:`normalize_unit_sphere` centres a cloud and scales it into the unit sphere.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cnnkit.errors import CorruptDatasetError

POINT_SUFFIXES = (".npy", ".ply", ".off", ".xyz")
MAX_FILE_BYTES = 64 << 20  # ModelNet40's largest mesh is about 15 MB
MAX_VERTICES = 2_000_000
MAX_FACES = 4_000_000


class BadPointFileError(CorruptDatasetError):
    """A point or mesh file that cannot be used; the message names it and the problem."""


def _bad(path, problem: str) -> BadPointFileError:
    return BadPointFileError(f"{path} is not a usable point file: {problem}.")


def _read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes, after checking its size against ``limit`` (default :data:`MAX_FILE_BYTES`)."""
    limit = MAX_FILE_BYTES if limit is None else limit
    size = path.stat().st_size
    if size > limit:
        raise _bad(path, f"it holds {size:,} bytes, more than the {limit:,} a point file may have")
    return path.read_bytes()


def _numbers(tokens, count: int, path, what: str) -> np.ndarray:
    """``count`` finite floats from ``tokens`` (a list of byte strings)."""
    if len(tokens) < count:
        raise _bad(path, f"it ends after {len(tokens)} of the {count} numbers its {what} need")
    try:
        values = np.asarray(tokens[:count], dtype="float64")
    except ValueError:
        raise _bad(path, f"its {what} hold something that is not a number") from None
    if not np.isfinite(values).all():
        raise _bad(path, f"its {what} hold NaN or infinite values")
    return values


def parse_off(data: bytes, path="the OFF file") -> tuple[np.ndarray, np.ndarray]:
    """An OFF mesh's vertices ``(V, 3)`` float64 and triangles ``(F, 3)`` int64 (polygons are split
    into fans). Accepts ModelNet's files whose first line fuses the counts to the keyword
    (``OFF490 518 0``); comments (``#``) are skipped."""
    text = re.sub(rb"#[^\n]*", b"", data)
    match = re.match(rb"\s*OFF", text)
    if match is None:
        raise _bad(path, "it does not start with the keyword OFF")
    tokens = text[match.end():].split()
    counts = _numbers(tokens, 3, path, "header")
    if (counts != np.round(counts)).any() or counts.min() < 0:
        raise _bad(path, f"its header counts {counts.astype(int).tolist()} are not whole numbers of at least 0")
    vertices, faces = int(counts[0]), int(counts[1])
    if vertices > MAX_VERTICES or faces > MAX_FACES:
        raise _bad(path, f"it declares {vertices:,} vertices and {faces:,} faces, more than the {MAX_VERTICES:,} "
                         f"and {MAX_FACES:,} allowed")  # fmt: skip
    if 3 + 3 * vertices + 4 * faces > len(tokens):  # each face needs at least 4 numbers: checked before allocating
        raise _bad(path, f"it declares {vertices:,} vertices and {faces:,} faces but holds only {len(tokens):,} numbers")
    if vertices == 0:
        raise _bad(path, "it has no vertices")
    points = _numbers(tokens[3:], 3 * vertices, path, "vertices").reshape(vertices, 3)
    triangles, position = [], 3 + 3 * vertices
    for face in range(faces):
        size_token = _numbers(tokens[position:], 1, path, f"face {face}")
        size = int(size_token[0])
        if size != size_token[0] or size < 3:
            raise _bad(path, f"face {face} has {size_token[0]:g} corners (at least 3 whole ones needed)")
        corners = _numbers(tokens[position + 1:], size, path, f"face {face}")
        if (corners != np.round(corners)).any() or corners.min() < 0 or corners.max() >= vertices:
            raise _bad(path, f"face {face} refers to vertex {corners.max():g}, past the {vertices} vertices")
        corners = corners.astype("int64")
        triangles += [(corners[0], corners[i], corners[i + 1]) for i in range(1, size - 1)]
        position += 1 + size
    return points, np.asarray(triangles, dtype="int64").reshape(-1, 3)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points ``(count, 3)`` uniformly on a mesh's surface: a triangle drawn with
    probability proportional to its area, then a uniform point in it (two uniforms folded into the
    triangle). A mesh without area is refused."""
    corners = vertices[faces]  # (F, 3 corners, 3)
    areas = 0.5 * np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError("the mesh has no surface area to sample points from")
    chosen = rng.choice(len(faces), size=count, p=areas / total)
    u, v = rng.uniform(size=(2, count, 1))
    flip = (u + v) > 1
    u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
    a, b, c = corners[chosen, 0], corners[chosen, 1], corners[chosen, 2]
    return a + u * (b - a) + v * (c - a)


def normalize_unit_sphere(points: np.ndarray) -> np.ndarray:
    """A cloud ``(N, 3)`` centred on its mean and scaled so that its farthest point lies at distance 1."""
    centred = points - points.mean(axis=0)
    radius = np.linalg.norm(centred, axis=1).max()
    return centred / radius if radius > 0 else centred


def _parse_ply(data: bytes, path) -> np.ndarray:
    """The vertices of a PLY file, ASCII or binary little-endian, as ``(N, properties)``: x, y, z first."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise _bad(path, "it has no PLY header (ply ... end_header)")
    header = data[:end].decode("ascii", "replace").splitlines()
    body = data[data.index(b"\n", end) + 1:] if b"\n" in data[end:] else b""
    form = next((line.split()[1] for line in header if line.startswith("format")), None)
    count, names, types, in_vertex = None, [], [], False
    sizes = {"float": "f4", "float32": "f4", "double": "f8", "float64": "f8", "uchar": "u1", "uint8": "u1",
             "char": "i1", "int8": "i1", "short": "i2", "ushort": "u2", "int": "i4", "uint": "u4",
             "int32": "i4", "uint32": "u4"}  # fmt: skip
    for line in header:
        words = line.split()
        if words[:2] == ["element", "vertex"] and len(words) == 3 and words[2].isdigit():
            count, in_vertex = int(words[2]), True
        elif words[:1] == ["element"]:
            if in_vertex:
                break
        elif in_vertex and words[:1] == ["property"] and len(words) == 3:
            if words[1] not in sizes:
                raise _bad(path, f"its vertex property {words[2]} has the type {words[1]}, which cnnkit does not read")
            types.append(sizes[words[1]])
            names.append(words[2])
    if count is None or names[:3] != ["x", "y", "z"]:
        raise _bad(path, "its header declares no vertex element with x, y and z first")
    if count > MAX_VERTICES:
        raise _bad(path, f"it declares {count:,} vertices, more than the {MAX_VERTICES:,} allowed")
    if form == "ascii":
        values = _numbers(body.split(), count * len(names), path, "vertices")
        return values.reshape(count, len(names))
    if form != "binary_little_endian":
        raise _bad(path, f"its format is {form}; cnnkit reads ascii and binary_little_endian")
    dtype = np.dtype([(name, "<" + kind) for name, kind in zip(names, types, strict=True)])
    if len(body) < count * dtype.itemsize:
        raise _bad(path, f"it holds {len(body):,} bytes of vertices, fewer than the {count * dtype.itemsize:,} declared")
    table = np.frombuffer(body, dtype=dtype, count=count)
    values = np.stack([table[name].astype("float64") for name in names], axis=1)
    if not np.isfinite(values).all():
        raise _bad(path, "its vertices hold NaN or infinite values")
    return values


def read_point_file(path, columns: int = 3, count: int = 1024, seed: int = 0) -> np.ndarray:
    """The cloud in ``path`` as ``(N, columns)`` float64: x, y, z and ``columns - 3`` features.

    ``.npy`` (a plain numeric array ``(N, >=3)``, never a pickle), ``.xyz`` (whitespace-separated
    rows), ``.ply`` (its vertices) or ``.off`` (``count`` points sampled on its surface, seeded by
    ``seed``; a mesh without faces gives its vertices). Extra columns beyond ``columns`` are refused
    rather than dropped.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in POINT_SUFFIXES:
        raise _bad(path, f"its suffix is not one of {', '.join(POINT_SUFFIXES)}")
    if suffix == ".npy":
        _read_bytes(path)  # the size check
        try:
            cloud = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise _bad(path, f"it is not a plain NumPy array ({error})") from None
        if cloud.dtype.kind not in "fiu" or cloud.ndim != 2:
            raise _bad(path, f"it holds a {cloud.dtype} array of shape {cloud.shape}, not (points, columns) numbers")
        cloud = cloud.astype("float64")
        if not np.isfinite(cloud).all():
            raise _bad(path, "it holds NaN or infinite values")
    elif suffix == ".xyz":
        rows = [line.split() for line in _read_bytes(path).splitlines() if line.strip() and not line.startswith(b"#")]
        widths = {len(row) for row in rows}
        if len(widths) != 1:
            raise _bad(path, f"its rows hold different numbers of values ({sorted(widths)})" if rows else "it is empty")
        width = widths.pop()
        cloud = _numbers([token for row in rows for token in row], len(rows) * width, path, "rows").reshape(-1, width)
    elif suffix == ".ply":
        cloud = _parse_ply(_read_bytes(path), path)
    else:
        vertices, faces = parse_off(_read_bytes(path), path)
        if len(faces):
            try:
                cloud = sample_surface(vertices, faces, count, np.random.default_rng(seed))
            except ValueError as error:
                raise _bad(path, str(error)) from None
        else:
            cloud = vertices
    if cloud.shape[1] != columns:
        raise _bad(path, f"its points have {cloud.shape[1]} columns but the model takes {columns} "
                         f"(x, y, z{' and ' + str(columns - 3) + ' features' if columns > 3 else ''})")  # fmt: skip
    if len(cloud) == 0:
        raise _bad(path, "it holds no points")
    return cloud
